package cas

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// holderEnv makes the test binary, run as a child process, open the store
// in that directory, print "ready" and hold it until stdin closes.
const holderEnv = "STELLA_CAS_TEST_HOLD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holderEnv); dir != "" {
		os.Exit(holdStore(dir))
	}
	os.Exit(m.Run())
}

func holdStore(dir string) int {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startHolder runs a second process that holds the store in dir and
// returns a function that makes it close the store and exit.
func startHolder(t *testing.T, dir string) func() {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("holder process did not open the store: %q, %v", line, err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("holder process: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestStoreInUseOtherProcess(t *testing.T) {
	dir := t.TempDir()
	stop := startHolder(t, dir)

	_, err := Open(dir, Options{})
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("Open while another process holds the store: error = %v, want ErrStoreInUse", err)
	}
	if !strings.Contains(err.Error(), "(pid ") || !strings.Contains(err.Error(), "since ") {
		t.Errorf("the message does not name the process that holds the store: %v", err)
	}

	// With a lock wait, Open succeeds once the holder exits.
	go func() {
		time.Sleep(200 * time.Millisecond)
		stop()
	}()
	s, err := Open(dir, Options{LockWait: time.Minute})
	if err != nil {
		t.Fatalf("Open with LockWait after the holder exits: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreInUseSameProcess(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	_, err := Open(dir, Options{LockWait: 100 * time.Millisecond})
	if !errors.Is(err, errdef.ErrStoreInUse) {
		t.Fatalf("second Open error = %v, want ErrStoreInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = s2.Close()
}

func TestPebbleMessageHasOnePrefix(t *testing.T) {
	for _, format := range []string{"pebble: fatal commit error: %v", "fatal commit error: %v"} {
		if got := pebbleMessage(format, "disk full"); got != "pebble: fatal commit error: disk full" {
			t.Errorf("pebbleMessage(%q) = %q", format, got)
		}
	}
}
