package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
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
			err := storeInUseError(dir, tc.err.Wait, "stella ouk import", tc.err)
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

func TestRecreatedStoreFolderStaysPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	g := &globalOptions{store: dir}
	discard := slog.New(slog.DiscardHandler)
	holder, _, err := g.openStore(context.Background(), discard, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Fatalf("new store folder has mode %o, want 0700", got)
	}
	dbInfo, err := os.Stat(filepath.Join(dir, storeDBDir))
	if err != nil {
		t.Fatal(err)
	}

	type openResult struct {
		store *cas.Store
		err   error
	}
	waiting, signal := context.WithCancel(context.Background())
	defer signal()
	opened := make(chan openResult, 1)
	go func() {
		log := slog.New(cancelOnLog{trigger: "waiting for it to finish", cancel: signal})
		s, _, err := g.openStore(context.Background(), log, 30*time.Second)
		opened <- openResult{s, err}
	}()
	<-waiting.Done()

	// The store folder is gone when the waiting open next tries the lock,
	// as when a rejected first import removed it before that open woke.
	if err := os.Rename(dir, dir+".removed"); err != nil {
		t.Fatal(err)
	}
	_ = holder.Close()
	r := <-opened
	if r.err != nil {
		t.Fatalf("open that waited for a store its holder removed: %v", r.err)
	}
	defer r.store.Close()

	info, err = os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("recreated store folder has mode %o, want 0700 as when first created", got)
	}
	again, err := os.Stat(filepath.Join(dir, storeDBDir))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Mode().Perm(), dbInfo.Mode().Perm(); got != want {
		t.Errorf("recreated db folder has mode %o, want %o as when first created", got, want)
	}
}
