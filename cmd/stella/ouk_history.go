package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newHistoryCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the kits this store has activated, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			store, _, err := g.openExistingStore(ctx, g.logger(cmd.ErrOrStderr()), g.lockWait)
			if err != nil {
				return err
			}
			defer store.Close()
			hist, err := store.History(ctx)
			if err != nil {
				return fmt.Errorf("reading history: %w", err)
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), hist)
			}
			if len(hist) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No kit has been activated in this store.")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTIVATED\tACTION\tVERSION\tSEQUENCE\tDIGEST\tNOTE")
			for _, h := range hist {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", h.At.UTC().Format(time.RFC3339),
					h.Action, printable(h.Version), h.Sequence, h.Digest, printable(h.Note))
			}
			return tw.Flush()
		},
	}
	out.register(cmd)
	return cmd
}
