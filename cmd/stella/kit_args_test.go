package main

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckLocalKitArg(t *testing.T) {
	for _, arg := range []string{"oci://127.0.0.1:5501/stella/kit:A1", "https://files.intranet/kit.tar.zst"} {
		err := checkLocalKitArg("inspect", arg)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "inspect reads kit files and layout folders") ||
			!strings.Contains(err.Error(), "stella ouk import "+arg) {
			t.Errorf("%s: %v", arg, err)
		}
	}
	// A plain HTTP registry needs oras's --from-plain-http, which the
	// advice names, since inspect cannot tell how the registry is served.
	err := checkLocalKitArg("inspect", "oci://127.0.0.1:5501/stella/kit:A1")
	if want := "oras cp -r --from-plain-http --to-oci-layout 127.0.0.1:5501/stella/kit:A1 DIR:TAG"; err == nil ||
		!strings.Contains(err.Error(), want) {
		t.Errorf("registry source: error %v does not name %q", err, want)
	}
	// regctl names a layout folder ocidir://DIR:TAG.
	err = checkLocalKitArg("verify", "ocidir:///tmp/kits/night-30:v1")
	if err == nil || !strings.Contains(err.Error(), "give the folder itself, as /tmp/kits/night-30") {
		t.Errorf("ocidir reference: error %v does not name the folder to give", err)
	}
	if err := checkLocalKitArg("verify", "kit.tar.zst"); err != nil {
		t.Errorf("kit file: %v", err)
	}
}

func TestCheckRemoteKitFlag(t *testing.T) {
	cases := map[string]string{
		"oci://127.0.0.1:5501/stella/kit:30":     "oras cp -r --to-oci-layout 127.0.0.1:5501/stella/kit:30 DIR:TAG",
		"http://127.0.0.1:8080/kits/kit.tar.zst": "download the kit file first",
	}
	for value, want := range cases {
		err := checkRemoteKitFlag("--base", value)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%s: error %v is no usage error", value, err)
			continue
		}
		for _, w := range []string{"--base takes a kit file or layout folder", value, want} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", value, err, w)
			}
		}
	}
	for _, value := range []string{"", "kit.tar.zst", "kits/night-30", "sha256:abcd"} {
		if err := checkRemoteKitFlag("--base", value); err != nil {
			t.Errorf("%q: %v, want no error", value, err)
		}
	}
}
