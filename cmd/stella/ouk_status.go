package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/internal/errdef"
)

// statusReport is the result of `stella ouk status`.
type statusReport struct {
	Store     string   `json:"store"`
	StoreSize int64    `json:"storeSize"`
	Active    *kitInfo `json:"active"`
	// StoreAbsent marks a store folder that does not exist, such as one
	// given with a mistyped --store.
	StoreAbsent bool `json:"storeAbsent,omitempty"`
	// Service describes the store service that ran the command, if any.
	Service *serviceStatus `json:"service,omitempty"`
}

// serviceStatus describes the running store service in ouk status.
type serviceStatus struct {
	PID    int       `json:"pid"`
	Since  time.Time `json:"since"`
	Socket string    `json:"socket"`
	Watch  string    `json:"watch,omitempty"`
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the active kit and the store",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if dir, ok := g.storeAbsent(); ok {
				return reportStoreAbsent(cmd.OutOrStdout(), out, dir)
			}
			store, dir, err := g.openExistingStoreForReading(ctx, g.logger(cmd.ErrOrStderr()), g.lockWait)
			var absent *noStoreError
			if errors.As(err, &absent) {
				// The process that status waited for removed the store, as
				// a rejected first import does.
				return reportStoreAbsent(cmd.OutOrStdout(), out, absent.dir)
			}
			if err != nil {
				return err
			}
			defer store.Close()
			rep := statusReport{Store: dir}
			if g.svc != nil {
				rep.Service = &serviceStatus{PID: os.Getpid(), Since: g.svc.started,
					Socket: filepath.Join(g.svc.dir, serviceSocketName), Watch: g.svc.watchDir}
			}
			if rep.StoreSize, err = store.DiskUsage(); err != nil {
				return fmt.Errorf("measuring store: %w", err)
			}
			active, err := store.Active(ctx)
			switch {
			case errors.Is(err, errdef.ErrNotFound):
			case err != nil:
				return fmt.Errorf("reading the active kit: %w", err)
			default:
				if rep.Active, err = describeKit(ctx, store, active.Digest); err != nil {
					return err
				}
				rep.Active.Note = active.Note
				rep.Active.SignedBy = active.SignedBy
				rep.Active.Expired = kitExpired(active, time.Now())
			}
			if err := writeStatus(cmd.OutOrStdout(), out, rep); err != nil {
				return err
			}
			if rep.Active != nil && rep.Active.DBError != "" {
				// A monitoring script that checks the exit code then detects
				// that lookups and scans fail.
				return fmt.Errorf("the DB of the active kit %s cannot be read, so lookups and scans fail: %s",
					printable(rep.Active.Version), rep.Active.DBError)
			}
			return nil
		},
	}
	out.register(cmd)
	return cmd
}

// reportStoreAbsent writes the status of the store folder dir, which holds
// no store, and returns the error that makes status exit with 1. Reading
// the status creates no store, and the exit code lets a script detect a
// mistyped --store or $STELLA_HOME.
func reportStoreAbsent(w io.Writer, out outputFlag, dir string) error {
	if err := writeStatus(w, out, statusReport{Store: dir, StoreAbsent: true}); err != nil {
		return err
	}
	return &noStoreError{dir: dir}
}

func writeStatus(w io.Writer, out outputFlag, rep statusReport) error {
	if out.json() {
		return writeJSON(w, rep)
	}
	printStatus(w, rep)
	return nil
}

func printStatus(w io.Writer, rep statusReport) {
	if rep.StoreAbsent {
		fmt.Fprintf(w, "Store   %s (absent: no store at this path yet; check --store and $STELLA_HOME if one should be there)\n", rep.Store)
	} else {
		fmt.Fprintf(w, "Store   %s (%s)\n", rep.Store, humanBytes(rep.StoreSize))
	}
	if svc := rep.Service; svc != nil {
		line := fmt.Sprintf("Service stella serve, pid %d, since %s", svc.PID, svc.Since.Format(time.RFC3339))
		if svc.Watch != "" {
			line += ", watching " + printable(svc.Watch)
		}
		fmt.Fprintln(w, line)
	}
	k := rep.Active
	if k == nil {
		fmt.Fprintln(w, "Active  none: import a kit with `stella ouk import KIT`")
		return
	}
	fmt.Fprintf(w, "Active  kit %s\n", printable(k.Version))
	fmt.Fprintf(w, "  digest      %s\n", k.Digest)
	fmt.Fprintf(w, "  sequence    %d\n", k.Sequence)
	fmt.Fprintf(w, "  created     %s\n", k.Created.UTC().Format(time.RFC3339))
	if k.Expires.IsZero() {
		fmt.Fprintln(w, "  expires     never")
	} else if k.Expired {
		fmt.Fprintf(w, "  expires     %s (EXPIRED: import a newer kit)\n", k.Expires.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "  expires     %s\n", k.Expires.UTC().Format(time.RFC3339))
	}
	if k.SignedBy != "" {
		fmt.Fprintf(w, "  signed by   %s\n", printable(k.SignedBy))
	}
	if k.Note != "" {
		fmt.Fprintf(w, "  note        %s\n", printable(k.Note))
	}
	if k.DBError != "" {
		fmt.Fprintf(w, "  DB          cannot be read: %s\n", k.DBError)
	} else {
		fmt.Fprintf(w, "  DB records  %d in %d layers\n", k.Records, k.DBLayers)
	}
	for _, img := range k.Images {
		fmt.Fprintf(w, "  image       %s [%s]\n", printable(img.Ref), strings.Join(img.Platforms, ", "))
	}
}
