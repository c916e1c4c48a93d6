package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/oci"
)

func newHistoryCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the kits this store has activated, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			store, _, err := g.openExistingStoreForReading(ctx, g.logger(cmd.ErrOrStderr()), g.lockWait)
			if err != nil {
				return err
			}
			defer store.Close()
			hist, err := store.History(ctx)
			if err != nil {
				return fmt.Errorf("reading history: %w", err)
			}
			entries := make([]historyEntry, len(hist))
			// A kit activated more than once has one entry per activation,
			// and its graph is walked once.
			complete := map[digest.Digest]bool{}
			for i, h := range hist {
				// A kit that gc removed and an interrupted import then
				// stored in part counts as not in the store, because no
				// rollback could activate it.
				whole, checked := complete[h.Digest]
				if !checked {
					if whole, err = store.KitComplete(ctx, h.Digest); err != nil {
						return err
					}
					complete[h.Digest] = whole
				}
				entries[i] = historyEntry{KitRecord: h, InStore: whole}
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), entries)
			}
			if len(hist) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No kit has been activated in this store.")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTIVATED\tACTION\tVERSION\tSEQUENCE\tDIGEST\tNOTE")
			for _, h := range entries {
				note := printable(h.Note)
				if !h.InStore {
					note = strings.TrimPrefix(note+"; removed from the store by gc", "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", h.At.UTC().Format(time.RFC3339),
					h.Action, printable(h.Version), h.Sequence, h.Digest, note)
			}
			return tw.Flush()
		},
	}
	out.register(cmd)
	return cmd
}

// historyEntry is one line of the history, with whether the store still
// holds its kit: gc removes kits beyond its --keep count.
type historyEntry struct {
	cas.KitRecord
	InStore bool `json:"inStore"`
}

// kitsNamed returns the kits of the history hist that arg names, each
// once: by its bundle digest, a prefix of the digest's hex digits, or its
// version. A digest copied in capitals names the same kit; a version must
// match exactly. Fewer than minBarePrefix hex digits without sha256: name
// only the kit of that version when the history has one.
func kitsNamed(hist []cas.KitRecord, arg string) []cas.KitRecord {
	arg = strings.TrimSpace(arg)
	hex, hasAlgorithm := strings.CutPrefix(strings.ToLower(arg), "sha256:")
	isHex := hex != "" && len(hex) <= 64 && strings.Trim(hex, "0123456789abcdef") == ""
	if isHex && !hasAlgorithm && len(hex) < minBarePrefix && slices.ContainsFunc(hist,
		func(h cas.KitRecord) bool { return h.Version == arg }) {
		// One digest in 16 starts with a given digit, so a short version
		// such as 3 would often name a second kit by its digest too.
		isHex = false
	}
	var matches []cas.KitRecord
	seen := map[digest.Digest]bool{}
	for _, h := range hist {
		if seen[h.Digest] {
			continue
		}
		if (isHex && strings.HasPrefix(h.Digest.Encoded(), hex)) || h.Version == arg {
			seen[h.Digest] = true
			matches = append(matches, h)
		}
	}
	return matches
}

// mayBeKitVersion reports whether v is a version that a kit of the store
// may have. That is what import accepts (see oci.ParseMeta), which is
// looser than the rule of ouk build, because kits may come from other
// builders.
func mayBeKitVersion(v string) bool {
	return v != "" && len(v) <= oci.MaxVersionLength && strings.IndexFunc(v, unicode.IsControl) < 0
}

// minBarePrefix is the number of hex digits from which a digest prefix
// written without sha256: matches digests even where a kit has those
// digits as its version. ouk push, delta and mirror read no shorter bare
// prefix at all (see isStoredKitArg).
const minBarePrefix = 4

// ambiguousKitError returns the usage error for an argument that names
// more than one kit of the history.
func ambiguousKitError(arg string, matches []cas.KitRecord) error {
	names := make([]string, 0, len(matches))
	for _, m := range matches {
		names = append(names, fmt.Sprintf("%s (%s)", printable(m.Version), m.Digest))
	}
	return usagef("%q names %d kits of the history: %s; give the digest of the kit you mean, or enough of "+
		"its hex digits to match that kit alone", arg, len(matches), strings.Join(names, ", "))
}
