package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
)

func TestStoreInUseErrorTurnover(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		err     *cas.InUseError
		want    []string
		notWant string
	}{
		{"one holder", &cas.InUseError{Wait: time.Second, Holders: 1},
			[]string{"is used by another stella process", "wait for it to finish", "--lock-timeout (now 1s)"},
			"in turn"},
		{"holders in turn", &cas.InUseError{Wait: 5 * time.Second, Holder: "pid 42, stella db lookup", Holders: 3,
			Releases: 2},
			[]string{"is busy: it was held by 3 stella processes in turn during the 5s wait",
				"it was free 2 times, but another process took it first each time", "the last holder was another stella process (pid 42, stella db lookup)",
				"Run fewer stella commands", "--lock-timeout (now 5s)"},
			"wait for it to finish"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := storeInUseError(dir, tc.err.Wait, tc.err)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message does not contain %q: %v", want, err)
				}
			}
			if strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("message contains %q: %v", tc.notWant, err)
			}
			if !errors.Is(err, errdef.ErrStoreInUse) {
				t.Errorf("error does not wrap ErrStoreInUse: %v", err)
			}
		})
	}
}
