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
	if err := checkLocalKitArg("verify", "kit.tar.zst"); err != nil {
		t.Errorf("kit file: %v", err)
	}
}
