package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/vulndb"
)

func newGCCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	var keep int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove blobs that neither the active kit nor the retained history uses",
		Long: `Remove every blob that is not reachable from the active kit, the newest
--keep kits of the history, or a kit a running lookup or scan has pinned.
The lookup index of removed DB layers goes with them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if keep < 0 {
				return usagef("--keep is %d; give 0 or more", keep)
			}
			ctx := cmd.Context()
			log := g.logger(cmd.ErrOrStderr())
			store, _, err := g.openExistingStore(ctx, log, g.lockWait)
			if err != nil {
				return err
			}
			defer store.Close()
			keepHistory := keep
			if keep == 0 {
				keepHistory = -1 // the store reads zero as its default
			}
			index := store.KV(importer.VulnDBNamespace)
			var dropErr error
			rep, err := store.GC(ctx, cas.GCOptions{
				KeepHistory: keepHistory,
				DryRun:      dryRun,
				OnRemove: func(b cas.BlobInfo) {
					if dryRun {
						return
					}
					if err := vulndb.DropLayer(index, b.Digest); err != nil && dropErr == nil {
						dropErr = fmt.Errorf("dropping lookup index of %s: %w", b.Digest, err)
					}
				},
			})
			if err != nil {
				return fmt.Errorf("collecting garbage: %w", err)
			}
			if dropErr != nil {
				return dropErr
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			verb := "Removed"
			if dryRun {
				verb = "Would remove"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d blobs (%s); kept %d blobs of %d kits\n",
				verb, rep.Removed, humanBytes(rep.BytesRemoved), rep.Kept, len(rep.KeptKits))
			return nil
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 3, "kits of the history to keep besides the active one")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed without removing it")
	out.register(cmd)
	return cmd
}
