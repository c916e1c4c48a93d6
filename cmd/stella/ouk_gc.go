package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
	"stella-ops.org/ouk/internal/vulndb"
)

func newGCCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	var keep int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove blobs that neither the active kit nor the retained history uses",
		Long: fmt.Sprintf(`Remove every blob that is not reachable from the active kit, the newest
--keep kits of the history, a tag, or a kit a running lookup or scan has
pinned. The lookup index of removed DB layers goes with them, and so do
lookup index keys that an earlier release wrote in another layout.

A pin whose process has exited no longer keeps its kit. A pin whose process
cannot be checked, such as one taken on another host, keeps its kit for %.0f
hours. The output lists every kit kept and why.`, cas.DefaultLeaseTTL.Hours()),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if keep < 0 {
				return usagef("--keep is %d; give 0 or more", keep)
			}
			ctx := cmd.Context()
			log := g.logger(cmd.ErrOrStderr())
			open := g.openExistingStore
			if dryRun {
				// A dry run writes nothing, so it works where this user
				// cannot write the store.
				open = g.openExistingStoreForReading
			}
			store, _, err := open(ctx, log, g.lockWait)
			if err != nil {
				return err
			}
			defer store.Close()
			keepHistory := keep
			if keep == 0 {
				keepHistory = -1 // the store reads zero as its default
			}
			index := store.KV(importer.VulnDBNamespace)
			sizeBefore, err := store.DiskUsage()
			if err != nil {
				return fmt.Errorf("measuring store: %w", err)
			}
			gcOpts := cas.GCOptions{KeepHistory: keepHistory, DryRun: dryRun}
			// The blobs this run removes, or would remove, separate the
			// lookup index of a layer removed now from one that an earlier
			// gc left behind. A dry run removes no blob, so the layers whose
			// blob it would remove are counted from this set too.
			var mu sync.Mutex
			removedNow := map[digest.Digest]bool{}
			gcOpts.OnRemove = func(b cas.BlobInfo) {
				mu.Lock()
				defer mu.Unlock()
				removedNow[b.Digest] = true
			}
			if !dryRun {
				endGC, err := g.startGC(ctx)
				if err != nil {
					return fmt.Errorf("collecting garbage: %w", err)
				}
				defer endGC()
			}
			rep, err := store.GC(ctx, gcOpts)
			if err != nil {
				return fmt.Errorf("collecting garbage: %w", err)
			}
			// The lookup index of a layer goes only after store.GC has
			// removed its blob, so a gc cut short here leaves an index
			// without a blob, not a stored kit without its index. The next
			// gc removes such an index.
			dropped, err := dropUnstoredLayers(ctx, store, index, dryRun, removedNow)
			if err != nil {
				return fmt.Errorf("collecting garbage: %w", err)
			}
			if !dryRun {
				// Compacting the dropped ranges frees their space now. A
				// failure or a signal loses nothing, because the ranges stay
				// marked and the next gc compacts them.
				if _, err := vulndb.CompactDroppedLayers(ctx, index); err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("collecting garbage: %w", err)
					}
					log.Warn("compacting the lookup index of removed DB layers failed, so the next gc retries it",
						"error", err)
				}
			}
			// Index keys that an earlier release wrote in another layout
			// belong to no layer of the current format, so they go too once
			// no layer is still indexed in that layout.
			pending, err := vulndb.LayersInEarlierFormat(index)
			if err != nil {
				return fmt.Errorf("collecting garbage: %w", err)
			}
			earlier, err := vulndb.EarlierLayoutKeys(index, !dryRun)
			if err != nil {
				return fmt.Errorf("collecting garbage: %w", err)
			}
			// A dry run changes nothing, so it has no size after.
			var sizeAfter *int64
			if !dryRun {
				store.WaitForFileDeletions(ctx)
				size, err := store.DiskUsage()
				if err != nil {
					return fmt.Errorf("measuring store: %w", err)
				}
				sizeAfter = &size
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), gcReport{rep, dropped.total(), dropped.leftover, earlier, pending,
					sizeBefore, sizeAfter, dryRun})
			}
			verb := "Removed"
			if dryRun {
				verb = "Would remove"
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s %d %s (%s); kept %d %s of %d %s\n",
				verb, rep.Removed, plural(rep.Removed, "blob", "blobs"), humanBytes(rep.BytesRemoved),
				rep.Kept, plural(rep.Kept, "blob", "blobs"), len(rep.KeptKits), plural(len(rep.KeptKits), "kit", "kits"))
			if rep.LeftoverRemoved > 0 {
				fmt.Fprintf(w, "%s %d %s (%s) that an interrupted gc or import left partly removed\n",
					verb, rep.LeftoverRemoved, plural(rep.LeftoverRemoved, "blob", "blobs"), humanBytes(rep.LeftoverBytes))
			}
			if dropped.withBlob > 0 {
				fmt.Fprintf(w, "%s the lookup index of %d DB %s along with %s\n",
					verb, dropped.withBlob, plural(dropped.withBlob, "layer", "layers"),
					plural(dropped.withBlob, "its blob", "their blobs"))
			}
			if dropped.leftover > 0 {
				fmt.Fprintf(w, "%s the lookup index of %d DB %s whose blob an earlier gc removed before it was "+
					"cut short\n", verb, dropped.leftover, plural(dropped.leftover, "layer", "layers"))
			}
			for _, k := range rep.KeptReasons {
				fmt.Fprintf(w, "  %s: %s\n", keptKitName(k), keepReasonsText(k.Reasons, keep))
			}
			if pending > 0 {
				fmt.Fprintf(w, "Kept the lookup index of %d DB %s written by an earlier release: import the active kit "+
					"again to index it in this release's layout, then run gc again to remove the old keys\n",
					pending, plural(pending, "layer", "layers"))
			}
			if earlier > 0 {
				fmt.Fprintf(w, "%s %d lookup index %s written in the layout of an earlier release\n",
					verb, earlier, plural(earlier, "key", "keys"))
			}
			if rep.StaleLeases > 0 {
				fmt.Fprintf(w, "%s %d stale %s: a pin goes stale when its process exits, "+
					"or after %.0f hours when its process cannot be checked\n",
					verb, rep.StaleLeases, plural(rep.StaleLeases, "pin", "pins"), cas.DefaultLeaseTTL.Hours())
			}
			if dryRun {
				fmt.Fprintf(w, "Store size %s; a dry run removes nothing\n", humanBytes(sizeBefore))
			} else {
				fmt.Fprintf(w, "Store size %s before, %s right after gc; Pebble logs deletions first and frees "+
					"their space in later compactions, so the size can grow at first and shrinks later\n",
					humanBytes(sizeBefore), humanBytes(*sizeAfter))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 3, "kits of the history to keep besides the active one")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed without removing it")
	out.register(cmd)
	return cmd
}

// gcReport is the JSON output of `stella ouk gc`.
type gcReport struct {
	cas.GCReport
	// IndexLayersRemoved counts the DB layers whose blob is
	// gone and whose lookup index gc removed, or in a dry run
	// would remove.
	IndexLayersRemoved int `json:"indexLayersRemoved"`
	// IndexLayersLeftover counts those of IndexLayersRemoved
	// whose blob was gone before this gc: an earlier gc cut
	// short removed the blob but not yet its lookup index.
	IndexLayersLeftover int `json:"indexLayersLeftover"`
	EarlierIndexKeys    int `json:"earlierIndexKeysRemoved"`
	// EarlierFormatLayers counts the DB layers still indexed
	// by an earlier release, whose keys gc keeps.
	EarlierFormatLayers int `json:"earlierFormatLayers"`
	// StoreSizeBefore is the size of the store's files when
	// gc started. StoreSizeAfter is their size right after
	// gc, left out of a dry run. Pebble logs the deletions
	// first and frees their space in later compactions, so
	// it can exceed StoreSizeBefore on a small store.
	StoreSizeBefore int64  `json:"storeSizeBefore"`
	StoreSizeAfter  *int64 `json:"storeSizeAfter,omitempty"`
	// DryRun marks a report of what gc would remove.
	DryRun bool `json:"dryRun"`
}

// keptKitName names a kit that gc kept: its version and short digest, or
// the digest alone when the kit was never activated.
func keptKitName(k cas.KeptKit) string {
	if k.Version == "" {
		return k.Digest.String()
	}
	short := k.Digest.Encoded()
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Sprintf("kit %s (%s:%s)", printable(k.Version), k.Digest.Algorithm(), short)
}

// keepReasonsText renders why gc kept a kit, for a run with --keep keep.
func keepReasonsText(reasons []cas.KeepReason, keep int) string {
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = keepReasonText(r, keep)
	}
	return strings.Join(parts, "; ")
}

func keepReasonText(r cas.KeepReason, keep int) string {
	since := r.Since.UTC().Format(time.RFC3339)
	switch r.Kind {
	case cas.ReasonActive:
		return "active"
	case cas.ReasonHistory:
		if r.Position == 1 {
			return fmt.Sprintf("previous kit, kept for rollback (within --keep %d)", keep)
		}
		return fmt.Sprintf("history kit %d, within --keep %d", r.Position, keep)
	case cas.ReasonLease:
		if r.HolderRunning {
			return fmt.Sprintf("pinned by running PID %d since %s", r.PID, since)
		}
		return fmt.Sprintf("pinned by %s since %s; its process cannot be checked from here, so the pin lasts until %s",
			printable(r.Holder), since, r.Until.UTC().Format(time.RFC3339))
	case cas.ReasonTag:
		return fmt.Sprintf("tagged %s", printable(r.Tag))
	}
	return r.Kind
}

// droppedIndexes counts the DB layers whose lookup index gc removed.
type droppedIndexes struct {
	// withBlob counts the layers whose blob this gc removed.
	withBlob int
	// leftover counts the layers whose blob was gone before this gc.
	leftover int
}

func (d droppedIndexes) total() int { return d.withBlob + d.leftover }

// dropUnstoredLayers removes the lookup index of every DB layer whose blob
// is no longer in the store, unless dryRun, and counts them. removed lists
// the blobs that this run removed or, in a dry run, would remove: their
// layers count as withBlob, and a dry run counts them although their blob
// is still stored.
func dropUnstoredLayers(ctx context.Context, store *cas.Store, index kv.Store, dryRun bool,
	removed map[digest.Digest]bool) (droppedIndexes, error) {
	var dropped droppedIndexes
	layers, err := vulndb.IndexedLayers(index)
	if err != nil {
		return dropped, err
	}
	for _, l := range layers {
		if dryRun && removed[l] {
			dropped.withBlob++
			continue
		}
		if _, err := store.Stat(ctx, l); !errors.Is(err, errdef.ErrNotFound) {
			if err != nil {
				return dropped, fmt.Errorf("checking DB layer %s: %w", l, err)
			}
			continue
		}
		if removed[l] {
			dropped.withBlob++
		} else {
			dropped.leftover++
		}
		if dryRun {
			continue
		}
		if err := vulndb.DropLayer(index, l); err != nil {
			return dropped, fmt.Errorf("dropping lookup index of %s: %w", l, err)
		}
	}
	return dropped, nil
}
