package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
)

// rollbackOptions are the flags of `stella ouk rollback`.
type rollbackOptions struct {
	keys          []string
	skipSignature bool
	allowExpired  bool
	out           outputFlag
}

func newRollbackCommand(g *globalOptions) *cobra.Command {
	o := &rollbackOptions{}
	out := &o.out
	cmd := &cobra.Command{
		Use:   "rollback [--key PUB]... [KIT]",
		Short: "Make the previous kit, or a named one still in the store, active again",
		Long: `Switch back to the kit that was active before the current one, or to the
kit that KIT names when it is still in the store: its version or its bundle
digest (a unique prefix is enough), as 'stella ouk history' lists them.
Unlike importing an older kit, a rollback is the operator's own decision and
needs no --allow-downgrade; the history records it. A KIT that names the
active kit, as the keyword active does, changes nothing and exits with 0, so a rollback
cut short can be run again.

The kit must still pass the site's other checks, as an import does: a
signature of it that the store holds must verify with a trusted key (--key
or a *.pub file in the store's keys folder), so a key removed from that
folder to revoke it no longer vouches for the kits it signed, and the kit
must not have expired. --insecure-skip-signature and --allow-expired
override them with a warning, which the history records.

Without KIT a second rollback switches forward again, because the kit that
was active before is then the newer one: it toggles between the last two
kits. To go back further, pick a version or digest from 'stella ouk history'.`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			log := g.logger(cmd.ErrOrStderr())
			store, dir, err := g.openExistingStore(ctx, log, g.lockWait)
			if err != nil {
				return err
			}
			defer store.Close()
			want := ""
			if len(args) == 1 {
				if want = strings.TrimSpace(args[0]); want == "" {
					return usagef("the kit argument is empty; give the version or the digest of a kit that " +
						"`stella ouk history` lists, or no argument to return to the previous kit")
				}
				if err := checkRollbackKitArg(want); err != nil {
					return err
				}
			}
			target, err := rollbackTarget(ctx, store, want)
			if err != nil {
				return err
			}
			info, err := describeKit(ctx, store, target)
			if err != nil {
				return fmt.Errorf("kit %s is no longer complete in the store, so it cannot be activated; "+
					"gc removes kits beyond its --keep count: import that kit's file again instead, with --allow-downgrade when it is "+
					"older than the active kit: %w", target, err)
			}
			prev, _ := store.Active(ctx)
			if target == prev.Digest {
				// The same fields as status shows for the active kit.
				info.Expired = kitExpired(prev, time.Now())
				info.Note = prev.Note
				info.SignedBy = prev.SignedBy
				return writeAlreadyActive(cmd.OutOrStdout(), *out, info)
			}
			if err := checkActivatable(ctx, store, target); err != nil {
				return err
			}
			keys, err := trustedKeys(log, dir, o.keys)
			if err != nil {
				return err
			}
			checked, err := importer.CheckStored(ctx, importer.Options{
				Store:                 store,
				Keys:                  keys,
				KeysDir:               filepath.Join(dir, storeKeysDir),
				InsecureSkipSignature: o.skipSignature,
				AllowExpired:          o.allowExpired,
				Logger:                log,
			}, target, lastSigner(ctx, store, target), importer.ActionActivate)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			rec := cas.KitRecord{Digest: target, Version: info.Version, Sequence: info.Sequence,
				Created: info.Created, Expires: info.Expires, At: now, Action: "rollback",
				SignedBy: checked.SignedBy,
				// The history keeps every override, as an import's record does.
				Note: strings.Join(checked.Warnings, "; ")}
			if err := store.Activate(ctx, rec); err != nil {
				return fmt.Errorf("activating kit %s: %w", info.Version, err)
			}
			info.Expired = kitExpired(rec, now)
			info.Note = rec.Note
			info.SignedBy = rec.SignedBy
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), newRollbackReport(info, prev, checked.Warnings))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, switchMessage(prev, info.Version, info.Sequence, info.Digest))
			if rec.SignedBy != "" {
				fmt.Fprintf(w, "  signed by  %s\n", rec.SignedBy)
			}
			for _, warning := range checked.Warnings {
				fmt.Fprintf(w, "  warning    %s\n", warning)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file, besides the store's keys folder (repeatable)")
	f.BoolVar(&o.skipSignature, "insecure-skip-signature", false,
		"activate a kit that no trusted key has signed, such as one whose key was removed from the keys folder")
	f.BoolVar(&o.allowExpired, "allow-expired", false, "activate a kit past its signed expiry time")
	out.register(cmd)
	return cmd
}

// lastSigner returns the key source of the newest history record of the
// kit bundle that names one, or "" when none does.
func lastSigner(ctx context.Context, store *cas.Store, bundle digest.Digest) string {
	hist, err := store.History(ctx)
	if err != nil {
		// The name only adds detail to a rejection.
		return ""
	}
	for _, h := range hist {
		if h.Digest == bundle && h.SignedBy != "" {
			return h.SignedBy
		}
	}
	return ""
}

// rollbackTarget picks the kit to return to: the one matching want, or the
// newest history entry that is not the active kit.
func rollbackTarget(ctx context.Context, store *cas.Store, want string) (digest.Digest, error) {
	hist, err := store.History(ctx)
	if err != nil {
		return "", fmt.Errorf("reading history: %w", err)
	}
	active, err := store.Active(ctx)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return "", fmt.Errorf("no kit is active, so there is nothing to roll back; import a kit first")
		}
		return "", err
	}
	if want == "active" {
		// The keyword names the active kit, as in export and check, so
		// the rollback changes nothing.
		return active.Digest, nil
	}
	if want == "" {
		var removed []cas.KitRecord
		for _, h := range hist {
			if h.Digest == active.Digest {
				continue
			}
			// gc removes the kits beyond its --keep count; the previous
			// kit still whole in the store is the one to return to.
			complete, err := store.KitComplete(ctx, h.Digest)
			if err != nil {
				return "", err
			}
			if !complete {
				removed = append(removed, h)
				continue
			}
			return h.Digest, nil
		}
		if len(removed) > 0 {
			return "", fmt.Errorf("no other kit of the history is still in the store: gc removes kits beyond its "+
				"--keep count, and it removed the previous kit %s (%s); import that kit's file again to return to it, "+
				"with --allow-downgrade when it is older than the active kit: %w",
				printable(removed[0].Version), removed[0].Digest, errdef.ErrNotFound)
		}
		return "", fmt.Errorf("there is no earlier kit to roll back to: the history contains only the active kit %s (%s); "+
			"to return to an older kit, import its file with --allow-downgrade", printable(active.Version), active.Digest)
	}
	matches := kitsNamed(hist, want)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no kit in the history matches %q; run `stella ouk history` to list them: %w", want, errdef.ErrNotFound)
	case 1:
		m := matches[0]
		if m.Digest == active.Digest {
			// Running a rollback again, as after one killed right after
			// its switch, finds its kit active and changes nothing.
			return m.Digest, nil
		}
		complete, err := store.KitComplete(ctx, m.Digest)
		if err != nil {
			return "", err
		}
		if !complete {
			return "", fmt.Errorf("kit %s (%s) is no longer whole in the store, because gc removes kits beyond its --keep "+
				"count; import that kit's file again to return to it, with --allow-downgrade when it is older than the "+
				"active kit: %w", printable(m.Version), m.Digest, errdef.ErrNotFound)
		}
		return m.Digest, nil
	}
	return "", ambiguousKitError(want, matches)
}

// checkRollbackKitArg rejects a KIT argument that can name no kit, so that
// a typing error exits as a usage error rather than as a kit not found.
// Such an argument is sha256: (in any case) without 1 to 64 hex digits
// after it, or a word that is neither hex digits nor a version that a
// stored kit may have.
func checkRollbackKitArg(arg string) error {
	hex, hasAlgorithm := strings.CutPrefix(strings.ToLower(arg), "sha256:")
	isHex := hex != "" && len(hex) <= 64 && strings.Trim(hex, "0123456789abcdef") == ""
	switch {
	case isHex:
		return nil
	case hasAlgorithm:
		return usagef("%q is not a kit digest or a prefix of one: sha256: must be followed by 1 to 64 hex "+
			"digits; give the digest or the version of a kit that `stella ouk history` lists, or no argument "+
			"to return to the previous kit", arg)
	case !mayBeKitVersion(arg):
		return usagef("%q is neither a kit version nor a kit digest; give the version, or sha256: and hex "+
			"digits of the digest, of a kit that `stella ouk history` lists, or no argument to return to the "+
			"previous kit", arg)
	}
	return nil
}

// rollbackReport is the JSON output of a rollback: the kit now active,
// with the fields of `stella ouk status`, and the kit it replaced.
type rollbackReport struct {
	*kitInfo
	Previous *previousKit `json:"previous,omitempty"`
	// Direction is "older" or "newer" when the new kit's sequence is lower
	// or higher than the previous kit's, and "same" when they are equal.
	Direction string `json:"direction,omitempty"`
	// Warnings lists the overrides the rollback used, as an import's
	// report does.
	Warnings []string `json:"warnings,omitempty"`
	// AlreadyActive marks a rollback to the kit that was active already,
	// which switched nothing and left the history as it was.
	AlreadyActive bool `json:"alreadyActive,omitempty"`
}

// writeAlreadyActive reports a rollback to the kit that is active already.
func writeAlreadyActive(w io.Writer, out outputFlag, info *kitInfo) error {
	if out.json() {
		return writeJSON(w, rollbackReport{kitInfo: info, AlreadyActive: true})
	}
	fmt.Fprintf(w, "Kit %s (%s) is already active; nothing changed\n", printable(info.Version), info.Digest)
	return nil
}

// previousKit is the kit that was active before a rollback.
type previousKit struct {
	Digest   string `json:"digest"`
	Version  string `json:"version"`
	Sequence int64  `json:"sequence"`
}

func newRollbackReport(info *kitInfo, prev cas.KitRecord, warnings []string) rollbackReport {
	rep := rollbackReport{kitInfo: info, Warnings: warnings}
	if prev.Digest == "" {
		return rep
	}
	rep.Previous = &previousKit{Digest: prev.Digest.String(), Version: prev.Version, Sequence: prev.Sequence}
	switch {
	case info.Sequence < prev.Sequence:
		rep.Direction = "older"
	case info.Sequence > prev.Sequence:
		rep.Direction = "newer"
	default:
		rep.Direction = "same"
	}
	return rep
}

// switchMessage describes a rollback from the kit prev to the target kit,
// naming the target older or newer, because a rollback without a digest
// toggles between the last two kits.
func switchMessage(prev cas.KitRecord, version string, sequence int64, d string) string {
	if prev.Version == "" {
		return fmt.Sprintf("Switched to kit %s (%s)", version, d)
	}
	target := "kit"
	if sequence < prev.Sequence {
		target = "the older kit"
	} else if sequence > prev.Sequence {
		target = "the newer kit"
	}
	return fmt.Sprintf("Switched from kit %s to %s %s (%s)", prev.Version, target, version, d)
}
