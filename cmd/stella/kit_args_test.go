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
	if err := checkLocalKitArg("verify", "kit.tar.zst"); err != nil {
		t.Errorf("kit file: %v", err)
	}
}
