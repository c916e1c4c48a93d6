package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRegistryRefNamesBrokenRule(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"127.0.0.1:5000/Stella/kit:x", `repository names are lower case: write "Stella/kit" as "stella/kit"`},
		{"127.0.0.1:5000/stella/kit:bad tag", `tag "bad tag" is invalid: a tag is 1 to 128 letters`},
		{"127.0.0.1:5000/stella/kit@sha256:f08c73", `digest "sha256:f08c73" is incomplete: it has 6 of the 64 hex digits`},
		{"127.0.0.1:5000/stella/kit@sha256:F08C73", `digest "sha256:F08C73" is invalid: a sha256 digest has 64 lower-case hex digits`},
		{"127.0.0.1:5000/stella/kit@md5:abc", `digest "md5:abc" is invalid: write sha256:`},
		{"127.0.0.1:5000/bad repo:1", `repository "bad repo" is invalid: a repository name is lower-case`},
		{"http://127.0.0.1:5000/stella/kit:1", "leave out the scheme"},
		{"127.0.0.1:5000", "no repository is named"},
	} {
		_, err := parseRegistryRef("target", tc.value)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%s: err = %v, want a usage error", tc.value, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: message %q lacks %q", tc.value, err, tc.want)
		}
	}
	// A push target takes a tag, so the advice shows no digest form.
	_, err := parseRegistryRef("target", "127.0.0.1:5000")
	if err == nil || strings.Contains(err.Error(), "@sha256:DIGEST") || !strings.Contains(err.Error(), "REGISTRY/REPOSITORY:TAG") {
		t.Errorf("target advice: %v", err)
	}
	ref, err := parseRegistryRef("target", "127.0.0.1:5000/stella/kit:1.0")
	if err != nil || ref.Repository != "stella/kit" || ref.Reference != "1.0" {
		t.Errorf("valid reference: %+v, %v", ref, err)
	}
}

func TestCheckMirrorTarget(t *testing.T) {
	for _, tc := range []struct{ to, want string }{
		{"127.0.0.1:5501/Bad Repo", "is invalid"},
		{"127.0.0.1:5501/Site", "repository names are lower case"},
		{"127.0.0.1:5501/site:tag", "names a tag or digest"},
		{"127.0.0.1:5501/site@sha256:abc", "names a tag or digest"},
		{"http://127.0.0.1:5501/site", "leave out the scheme"},
		{"bad host/site", "not a valid registry host"},
	} {
		err := checkMirrorTarget(tc.to)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%s: err = %v, want a usage error", tc.to, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "REGISTRY[/PREFIX]") {
			t.Errorf("%s: message %q lacks %q or the REGISTRY[/PREFIX] form", tc.to, err, tc.want)
		}
	}
	for _, ok := range []string{"127.0.0.1:5501", "127.0.0.1:5501/", "registry.intranet/site/mirror"} {
		if err := checkMirrorTarget(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
