package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

// version and commit name the release and the source it was built from.
// The Makefile sets them with -ldflags "-X main.version=... -X
// main.commit=...". A build without them reports the module version that
// `go install` records, or "devel".
var (
	version = ""
	commit  = ""
)

// buildVersion is the report of `stella version`: the release of this
// binary and the formats it reads and writes.
type buildVersion struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// DBSchema is the DB schema a kit must carry for this release to
	// import it.
	DBSchema string `json:"dbSchema"`
	// IndexFormat is the key layout of the pre-built index tables that
	// this release ingests. For tables of another layout, the import
	// indexes the DB layers instead.
	IndexFormat string `json:"indexFormat"`
	// StoreFormat is the format this release writes into a store.
	StoreFormat int `json:"storeFormat"`
}

func currentVersion() buildVersion {
	v := buildVersion{
		Version:     version,
		Commit:      commit,
		Go:          runtime.Version(),
		Platform:    runtime.GOOS + "/" + runtime.GOARCH,
		DBSchema:    oci.SchemaVersion,
		IndexFormat: vulndb.IndexFormat(),
		StoreFormat: cas.StoreFormat(),
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && v.Commit == "" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

// summary returns the one line that `stella --version` prints.
func (v buildVersion) summary() string {
	s := "stella " + v.Version
	if v.Commit != "" {
		s += " (commit " + v.Commit + ")"
	}
	return s
}

func printVersion(w io.Writer, v buildVersion) {
	fmt.Fprintln(w, v.summary())
	fmt.Fprintf(w, "Go:           %s %s\n", v.Go, v.Platform)
	fmt.Fprintf(w, "DB schema:    %s\n", v.DBSchema)
	fmt.Fprintf(w, "Index format: %s\n", v.IndexFormat)
	fmt.Fprintf(w, "Store format: %d\n", v.StoreFormat)
}

func newVersionCommand() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the release of this binary and the kit and store formats it reads and writes",
		Long: `Show the release of this binary, the commit it was built from, and the
formats it works with: the DB schema a kit must carry to be imported, the key
layout of pre-built index tables that an import ingests as they are, and the
format it writes into a store. Compare them on the connected machine and on
the isolated host before moving a kit across.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			v := currentVersion()
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			printVersion(cmd.OutOrStdout(), v)
			return nil
		},
	}
	out.register(cmd)
	return cmd
}
