package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
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
