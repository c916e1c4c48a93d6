package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// duringImport is the outcome of lookups run one after another while a
// full kit is imported over a store that holds an older kit.
type duringImport struct {
	service bool
	imp     time.Duration
	// lookups are the times of the lookups that started during the
	// import, each a whole stella process.
	lookups []time.Duration
}

// measureDuringImport imports newKit over a store into which oldKit was
// imported, and meanwhile runs lookups of queries in turn until the import
// ends. With service, `stella serve` holds the store and the import and
// the lookups run in it; without, each command opens the store itself.
func (c config) measureDuringImport(service bool, oldKit, newKit, pub string, w func(string) string,
	queries [][]string) (duringImport, error) {
	res := duringImport{service: service}
	store := w("store-during")
	os.RemoveAll(store)
	defer os.RemoveAll(store)
	if _, err := c.runStella(store, "ouk", "import", "--key", pub, oldKit); err != nil {
		return res, err
	}
	var svcLog syncBuffer
	if service {
		svc := exec.Command(c.stella, "--store", store, "serve")
		svc.Stderr = &svcLog
		if err := svc.Start(); err != nil {
			return res, err
		}
		defer func() {
			_ = svc.Process.Signal(syscall.SIGTERM)
			_ = svc.Wait()
		}()
		if err := waitFor(func() bool { return strings.Contains(svcLog.String(), "store service started") }); err != nil {
			return res, fmt.Errorf("stella serve did not start: %w\n%s", err, svcLog.String())
		}
	}

	imp := exec.Command(c.stella, "--store", store, "ouk", "import", "--key", pub, newKit)
	imp.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	var impErr bytes.Buffer
	imp.Stderr = &impErr
	start := time.Now()
	if err := imp.Start(); err != nil {
		return res, err
	}
	done := make(chan error, 1)
	go func() { done <- imp.Wait() }()
	// The lookups start once the import holds the store, or its place in
	// the service.
	holding := func() bool {
		if service {
			return strings.Contains(svcLog.String(), `command="ouk import"`)
		}
		raw, _ := os.ReadFile(filepath.Join(store, "db", "stella-holder"))
		return strings.Contains(string(raw), "ouk import")
	}
	if err := waitFor(holding); err != nil {
		return res, fmt.Errorf("the import did not take the store: %w\n%s", err, impErr.String())
	}
	var impDone error
	finished := false
	for i := 0; !finished; i++ {
		args := append([]string{"--store", store, "--lock-timeout", "10m", "db", "lookup"}, queries[i%len(queries)]...)
		t0 := time.Now()
		out, err := exec.Command(c.stella, args...).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("no record")) {
			return res, fmt.Errorf("lookup %v during the import: %v\n%s", args, err, out)
		}
		res.lookups = append(res.lookups, time.Since(t0))
		select {
		case impDone = <-done:
			finished = true
		default:
		}
	}
	res.imp = time.Since(start)
	if impDone != nil {
		return res, fmt.Errorf("import of %s: %v\n%s", newKit, impDone, impErr.String())
	}
	return res, nil
}

// quantile returns the q quantile of ds, by the nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// waitFor polls cond every 10 ms for up to a minute.
func waitFor(cond func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("still not done after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// syncBuffer is a bytes.Buffer that a child process writes to while the
// benchmark reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
