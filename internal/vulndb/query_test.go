package vulndb

import (
	"errors"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

func TestValidatePURL(t *testing.T) {
	cases := []struct {
		purl     string
		sentinel error  // nil: valid
		message  string // part of the error message
	}{
		{"pkg:npm/lodash@4.17.20", nil, ""},
		{"pkg:npm/lodash", nil, ""},
		{"pkg:npm/@babel/core@7.0.0", nil, ""},
		{"pkg:deb/debian/openssl@3.0.11-1?distro=debian-12", nil, ""},
		{"notapurl", errdef.ErrInvalidArgument, "write it as pkg:TYPE/NAMESPACE/NAME@VERSION"},
		{"pkg:npm/lodash@", errdef.ErrInvalidArgument, "empty version"},
		{"pkg:npm/lodash@?foo=bar", errdef.ErrInvalidArgument, "empty version"},
		{"pkg:npm/lodash@4.17.20@x", errdef.ErrInvalidArgument, "more than one"},
		// LookupPURL decides about a version that its ecosystem cannot
		// parse, since records may list it or have ranges for the package.
		{"pkg:npm/nonexistent-pkg@not.a.version", nil, ""},
		{"pkg:foobar/thing@1.0", errdef.ErrNotFound, "supported types are apk, bitnami, cargo"},
		{"pkg:deb/thing@1.0", errdef.ErrNotFound, "such as pkg:deb/debian/NAME@VERSION, but it has no namespace"},
		{"pkg:apk/thing@1.0", errdef.ErrNotFound, "pkg:apk/alpine/NAME@VERSION"},
		{"pkg:rpm/nosuch/thing@1.0", errdef.ErrNotFound, `namespace "nosuch" is not a supported distribution`},
	}
	for _, c := range cases {
		err := ValidatePURL(c.purl)
		if c.sentinel == nil {
			if err != nil {
				t.Errorf("%s: %v", c.purl, err)
			}
			continue
		}
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%s: error = %v, want %v", c.purl, err, c.sentinel)
			continue
		}
		if !strings.Contains(err.Error(), c.message) {
			t.Errorf("%s: error %q lacks %q", c.purl, err, c.message)
		}
		if strings.Contains(err.Error(), "invalid record") || strings.HasSuffix(err.Error(), c.sentinel.Error()) {
			t.Errorf("%s: error %q ends with a sentinel's text", c.purl, err)
		}
	}
}

func TestValidateCPE(t *testing.T) {
	cases := []struct {
		cpe     string
		message string // "" when valid
	}{
		{"cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*", ""},
		{"cpe:2.3:o:linux:linux_kernel:6.1", ""},
		{`cpe:2.3:a:foo\!bar:baz:1.0`, ""},
		{"cpe:/a:webmproject:libwebp:1.3.1", ""},
		{"cpe:2.3:x:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*", `part "x" is not a (application)`},
		{"cpe:2.3:a:webm project:libwebp:1.3.1:*:*:*:*:*:*:*", `attribute vendor "webm project" contains ' '`},
		{"cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*:*", "CPE 2.3 has 11"},
		{"cpe:2.3:a:webmproject", "lacks a vendor or product"},
	}
	for _, c := range cases {
		err := ValidateCPE(c.cpe)
		if c.message == "" {
			if err != nil {
				t.Errorf("%s: %v", c.cpe, err)
			}
			continue
		}
		if !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", c.cpe, err)
			continue
		}
		if !strings.Contains(err.Error(), c.message) {
			t.Errorf("%s: error %q lacks %q", c.cpe, err, c.message)
		}
	}
}
