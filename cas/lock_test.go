package cas

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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
	if dir := os.Getenv(cyclerEnv); dir != "" {
		os.Exit(cycleLock(dir))
	}
	if dir := os.Getenv(tryLockEnv); dir != "" {
		os.Exit(tryLock(dir))
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

// startHelper starts the test binary as a child process with env set to
// dir, which TestMain reads, and returns its stdin and stdout.
func startHelper(t *testing.T, env, dir string) (*exec.Cmd, io.WriteCloser, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+dir)
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
	return cmd, stdin, stdout
}

// startHolder runs a second process that holds the store in dir and
// returns a function that makes it close the store and exit.
func startHolder(t *testing.T, dir string) func() {
	t.Helper()
	cmd, stdin, stdout := startHelper(t, holderEnv, dir)
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

// writeHolderRecord writes rec as the holder record of the store in dir.
func writeHolderRecord(t *testing.T, dir string, rec holderRecord) {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, holderFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// exitedProcess returns the description of a process that has exited.
func exitedProcess(t *testing.T) process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	p := currentProcess()
	p.PID, p.Start = cmd.Process.Pid, ""
	return p
}

func TestLockHolderRemovedOnClose(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if got := LockHolder(dir); !strings.Contains(got, fmt.Sprintf("pid %d,", os.Getpid())) {
		t.Errorf("LockHolder while this process holds the store = %q, want its pid", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, holderFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("holder record after Close: %v, want it removed", err)
	}
}

func TestLockHolderExitedProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc to check processes with")
	}
	dir := t.TempDir()
	writeHolderRecord(t, dir, holderRecord{Command: "stella ouk import", Since: time.Now(), process: exitedProcess(t)})
	if got := LockHolder(dir); got != "" {
		t.Errorf("LockHolder of a record whose process has exited = %q, want \"\"", got)
	}

	// The PID of a new process with another start time is not the holder.
	reused := currentProcess()
	reused.Start = "1"
	writeHolderRecord(t, dir, holderRecord{Command: "stella ouk import", process: reused})
	if got := LockHolder(dir); got != "" {
		t.Errorf("LockHolder of a record whose PID names another process = %q, want \"\"", got)
	}
}

func TestLockHolderOtherHostNotChecked(t *testing.T) {
	dir := t.TempDir()
	other := currentProcess()
	other.Host = "other-host.example"
	writeHolderRecord(t, dir, holderRecord{Command: "stella ouk gc", process: other})
	got := LockHolder(dir)
	if !strings.Contains(got, "stella ouk gc") || !strings.Contains(got, "cannot be checked") {
		t.Errorf("LockHolder of a record from another host = %q, want the record marked as not checked", got)
	}
}

func TestLockHolderSanitized(t *testing.T) {
	dir := t.TempDir()
	command := "stella \x1b[31mouk\x1b[0m\u202egc\r\n" + strings.Repeat("x", 1000)
	writeHolderRecord(t, dir, holderRecord{Command: command, process: currentProcess()})
	got := LockHolder(dir)
	if !strings.Contains(got, "stella ouk") {
		t.Errorf("LockHolder = %q, want the command without escapes", got)
	}
	for _, bad := range []string{"\x1b", "[31m", "\u202e", "\r", "\n"} {
		if strings.Contains(got, bad) {
			t.Errorf("LockHolder = %q contains %q", got, bad)
		}
	}
	if len(got) > maxHolderText {
		t.Errorf("LockHolder returned %d bytes, want at most %d", len(got), maxHolderText)
	}
}

func TestReadOnlyOpenWritesHolder(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A record that the last holder, killed, left behind, which the
	// read-only open replaces with its own.
	stale := currentProcess()
	stale.Host = "other-host.example"
	writeHolderRecord(t, dir, holderRecord{Command: "stella ouk status", process: stale})

	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got := LockHolder(dir)
	if !strings.Contains(got, fmt.Sprintf("pid %d,", os.Getpid())) {
		t.Errorf("LockHolder while a read-only open holds the store = %q, want this process", got)
	}
	if strings.Contains(got, "ouk status") {
		t.Errorf("LockHolder while a read-only open holds the store = %q names the stale record", got)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, holderFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("holder record after Close of a read-only open: %v, want it removed", err)
	}
}

func TestLockHolderRecordWithoutHostExited(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc to check processes with")
	}
	dir := t.TempDir()
	// A hand-written record has only a PID, and no process has this one.
	exited := exitedProcess(t)
	writeHolderRecord(t, dir, holderRecord{Command: "stella ouk import", process: process{PID: exited.PID}})
	if got := LockHolder(dir); got != "" {
		t.Errorf("LockHolder of a record without host whose PID does not run = %q, want \"\"", got)
	}

	// With a PID that runs, the record may name a live holder.
	writeHolderRecord(t, dir, holderRecord{Command: "stella ouk import", process: process{PID: os.Getpid()}})
	got := LockHolder(dir)
	if !strings.Contains(got, "stella ouk import") || !strings.Contains(got, "cannot be checked") {
		t.Errorf("LockHolder of a record without host whose PID runs = %q, want it marked as not checked", got)
	}
}

func TestCloseAndRemoveIfEmpty(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.CloseAndRemoveIfEmpty()
	if err != nil {
		t.Fatal(err)
	}
	if !removed {
		t.Error("a store that was opened and never written was not removed")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("store directory after removal: %v, want it gone", err)
	}
	if names, _ := os.ReadDir(parent); len(names) != 0 {
		t.Errorf("removal left %d entries in the parent folder, such as %s", len(names), names[0].Name())
	}
	// The lock is released: the store can be created again.
	again, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after removal: %v", err)
	}
	_ = again.Close()
}

func TestCloseAndRemoveKeepsWrittenStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := push(t, s, []byte("kept"), "application/octet-stream")
	removed, err := s.CloseAndRemoveIfEmpty()
	if err != nil {
		t.Fatal(err)
	}
	if removed {
		t.Fatal("a store holding a blob was removed")
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after a close that kept the store: %v", err)
	}
	defer s.Close()
	if ok, err := s.Exists(context.Background(), d); err != nil || !ok {
		t.Errorf("blob %s after reopening: exists %v, error %v", d.Digest, ok, err)
	}
}

func TestOpenRecreatesParentWithParentPerm(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "store")
	dir := filepath.Join(parent, "db")
	s, err := Open(dir, Options{ParentPerm: 0o700})
	if err != nil {
		t.Fatal(err)
	}
	checkPerm(t, "new parent folder", parent, 0o700)
	created, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		store *Store
		err   error
	}
	signal := newWaitSignal()
	waiting := make(chan result, 1)
	go func() {
		w, err := Open(dir, Options{LockWait: 30 * time.Second, ParentPerm: 0o700, Logger: slog.New(signal)})
		waiting <- result{w, err}
	}()
	<-signal.waiting

	// The holder's folder goes away before the holder releases the lock,
	// so the waiting Open finds no parent folder when it creates the store
	// again.
	if err := os.Rename(parent, parent+".removed"); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	r := <-waiting
	if r.err != nil {
		t.Fatalf("Open that waited for a store whose folder was removed: %v; want a new store", r.err)
	}
	defer r.store.Close()
	checkPerm(t, "recreated parent folder", parent, 0o700)
	checkPerm(t, "recreated store directory", dir, created.Mode().Perm())
}

// checkPerm checks that the permission bits of the file at path are want.
func checkPerm(t *testing.T, label, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s %s has permission %#o, want %#o", label, path, got, want)
	}
}

func TestOpenRejectsInvalidParentPerm(t *testing.T) {
	for _, perm := range []fs.FileMode{0o600, 0o1777, fs.ModeDir | 0o755} {
		_, err := Open(filepath.Join(t.TempDir(), "store", "db"), Options{ParentPerm: perm})
		if err == nil || !strings.Contains(err.Error(), "parent folder permission") {
			t.Errorf("Open with ParentPerm %v: error %v, want one about the parent folder permission", perm, err)
		}
	}
}

func TestOpenWaitingForRemovedStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		store *Store
		err   error
	}
	waiting := make(chan result, 1)
	go func() {
		w, err := Open(dir, Options{LockWait: 30 * time.Second})
		waiting <- result{w, err}
	}()

	// The pause lets the second Open find the lock held before the store
	// is removed. On a machine too slow for that, the second Open only
	// creates the store, and the test checks less.
	time.Sleep(200 * time.Millisecond)
	if removed, err := s.CloseAndRemoveIfEmpty(); err != nil || !removed {
		t.Fatalf("CloseAndRemoveIfEmpty: removed %v, error %v; want the unused store removed", removed, err)
	}

	r := <-waiting
	if r.err != nil {
		t.Fatalf("Open that waited for the lock of a store its holder removed: %v; want a new store", r.err)
	}
	defer r.store.Close()
	d := push(t, r.store, []byte("after removal"), "application/octet-stream")
	if ok, err := r.store.Exists(context.Background(), d); err != nil || !ok {
		t.Errorf("blob %s in the new store: exists %v, error %v", d.Digest, ok, err)
	}
}
