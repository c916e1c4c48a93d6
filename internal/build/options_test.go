package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

func TestCheckVersion(t *testing.T) {
	valid := []string{"2026.12.04", "2026.12.04-150405", "1.4.0-rc.1", "night-01", "v1", "a/b",
		"1.0+build.5", "release:7", "x@y", "a--b", "A_b", strings.Repeat("a", 128)}
	for _, v := range valid {
		if err := CheckVersion(v); err != nil {
			t.Errorf("CheckVersion(%q) = %v, want nil", v, err)
		}
	}
	invalid := []string{"", "bad version/../x", "-1", "1.", ".1", "a..b", "a---b", "a/", "/a", "a//b",
		"a b", "ünï", "a\nb", "1.0!", strings.Repeat("a", 129), "active", "Active"}
	for _, v := range invalid {
		err := CheckVersion(v)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("CheckVersion(%q) = %v, want ErrInvalidArgument", v, err)
		}
	}
	err := CheckVersion("bad version/../x")
	if err == nil || !strings.Contains(err.Error(), "- . _ : @ +") {
		t.Errorf("message %v does not show the allowed characters", err)
	}
}

func TestBuildRejectsBadOptionsFirst(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]func(*Options){
		"version":      func(o *Options) { o.Version = "bad version/../x" },
		"sequence":     func(o *Options) { o.Sequence = -5 },
		"delta suffix": func(o *Options) { o.Base = "absent.tar"; o.DeltaOutput = filepath.Join(dir, "d.zip") },
		"suffix":       func(o *Options) { o.Output = filepath.Join(dir, "kit.zip") },
	}
	for name, change := range cases {
		opts := fixtureOptions(t, filepath.Join(dir, "kit.tar"))
		change(&opts)
		_, err := Build(context.Background(), opts)
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
		if _, statErr := os.Stat(opts.Output); statErr == nil {
			t.Errorf("%s: a rejected build wrote %s", name, opts.Output)
		}
	}
	_, err := Build(context.Background(), fixtureOptions(t, filepath.Join(dir, "kit.zip")))
	if !errors.Is(err, errdef.ErrUnknownCompression) || !strings.Contains(err.Error(), ".tar.zst") {
		t.Errorf("unknown suffix: err = %v, want ErrUnknownCompression listing the suffixes", err)
	}
}
