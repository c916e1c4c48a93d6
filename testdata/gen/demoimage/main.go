// Command demoimage writes a multi-platform image of the stella binary as
// an OCI image layout folder, for kit build tests and demos:
//
//	go run ./testdata/gen/demoimage -o DIR -ref REF [-created RFC3339] linux/amd64=PATH linux/arm64=PATH
//
// It prints the digest of the image index.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"stella-ops.org/ouk/oci/layout"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demoimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("demoimage", flag.ContinueOnError)
	out := fs.String("o", "", "output folder for the OCI image layout; must not exist or be empty")
	ref := fs.String("ref", "", "image reference written as the org.opencontainers.image.ref.name annotation")
	created := fs.String("created", "", "creation time, RFC 3339; default SOURCE_DATE_EPOCH, else the current time")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: demoimage -o DIR -ref REF [-created RFC3339] PLATFORM=PATH...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *ref == "" || fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("-o, -ref and at least one PLATFORM=PATH are required")
	}
	when, err := creationTime(*created)
	if err != nil {
		return err
	}
	binaries, err := parseBinaries(fs.Args())
	if err != nil {
		return err
	}
	desc, err := layout.BuildDemoImage(context.Background(), binaries, *ref, when, *out)
	if err != nil {
		return err
	}
	fmt.Println(desc.Digest)
	return nil
}

func creationTime(flagValue string) (time.Time, error) {
	if flagValue != "" {
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("-created %q is not an RFC 3339 time such as 2025-06-01T12:00:00Z", flagValue)
		}
		return t, nil
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		secs, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a whole number of seconds", epoch)
		}
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Now().UTC(), nil
}

func parseBinaries(args []string) (map[string]string, error) {
	binaries := make(map[string]string, len(args))
	for _, arg := range args {
		platform, path, ok := strings.Cut(arg, "=")
		if !ok || platform == "" || path == "" {
			return nil, fmt.Errorf("argument %q is not PLATFORM=PATH, such as linux/amd64=bin/stella", arg)
		}
		if _, dup := binaries[platform]; dup {
			return nil, fmt.Errorf("platform %s is given twice", platform)
		}
		binaries[platform] = path
	}
	return binaries, nil
}
