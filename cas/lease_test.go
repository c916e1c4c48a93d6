package cas

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// exitedPID starts a short process, waits for it to exit and reaps it, and
// returns its PID, which then names no running process.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "0")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run sleep: %v", err)
	}
	return cmd.Process.Pid
}

// requireProcfs skips the test where GC cannot check lease holders.
func requireProcfs(t *testing.T) {
	t.Helper()
	here := currentProcess()
	if here.Boot == "" || here.Start == "" || here.PIDNamespace == "" {
		t.Skip("no /proc with boot ID and process start times; GC falls back to the lease TTL")
	}
}

// leasedOldKit activates an old kit, pins it as proc, activates a newer
// kit and returns both.
func leasedOldKit(t *testing.T, s *Store, proc process) (old, newer *testGraph) {
	t.Helper()
	ctx := context.Background()
	old = pushKit(t, s, 11)
	if err := s.Activate(ctx, KitRecord{Digest: old.index.Digest, Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pinAs(old.index.Digest, "pid-test", proc); err != nil {
		t.Fatal(err)
	}
	newer = pushKit(t, s, 12)
	if err := s.Activate(ctx, KitRecord{Digest: newer.index.Digest, Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	return old, newer
}

func TestGCIgnoresLeaseOfExitedProcess(t *testing.T) {
	requireProcfs(t)
	s := openTest(t, t.TempDir(), Options{})
	proc := currentProcess()
	proc.PID, proc.Start = exitedPID(t), "1"
	old, newer := leasedOldKit(t, s, proc)

	rep, err := s.GC(context.Background(), GCOptions{KeepHistory: -1})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rep.KeptKits, old.index.Digest) {
		t.Errorf("KeptKits = %v, still lists the kit of an exited process", rep.KeptKits)
	}
	if exists(t, s, old.layer1) {
		t.Error("GC kept a layer of the kit whose lease holder has exited")
	}
	if !exists(t, s, newer.layer1) {
		t.Error("GC removed a layer of the active kit")
	}
	if rep.StaleLeases != 1 {
		t.Errorf("StaleLeases = %d, want 1", rep.StaleLeases)
	}
	if found, _ := s.hasPrefix(leasePrefix(old.index.Digest)); found {
		t.Error("GC left the lease of the exited process")
	}
}

func TestGCIgnoresLeaseOfReusedPID(t *testing.T) {
	requireProcfs(t)
	s := openTest(t, t.TempDir(), Options{})
	proc := currentProcess()
	proc.Start = "1" // this PID once named a process that started at tick 1
	old, _ := leasedOldKit(t, s, proc)

	rep, err := s.GC(context.Background(), GCOptions{KeepHistory: -1})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rep.KeptKits, old.index.Digest) {
		t.Errorf("KeptKits = %v, lists a kit whose lease PID now names another process", rep.KeptKits)
	}
}

func TestGCKeepsLeaseOfRunningProcess(t *testing.T) {
	requireProcfs(t)
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	old := pushKit(t, s, 21)
	if err := s.Activate(ctx, KitRecord{Digest: old.index.Digest, Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	release, err := s.PinProcess(ctx, old.index.Digest, "scan")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	newer := pushKit(t, s, 22)
	if err := s.Activate(ctx, KitRecord{Digest: newer.index.Digest, Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}

	// A running holder keeps its lease past the TTL.
	rep, err := s.GC(ctx, GCOptions{KeepHistory: -1, LeaseTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if !exists(t, s, old.layer1) {
		t.Fatal("GC removed a layer of a kit that a running process has pinned")
	}
	kept := keptReasons(t, rep, old.index.Digest)
	if len(kept.Reasons) != 1 || kept.Reasons[0].Kind != ReasonLease {
		t.Fatalf("reasons for the pinned kit = %+v, want one lease", kept.Reasons)
	}
	r := kept.Reasons[0]
	if r.PID != os.Getpid() {
		t.Errorf("lease PID = %d, want %d", r.PID, os.Getpid())
	}
	if !r.HolderRunning {
		t.Error("HolderRunning is false for this running process")
	}
	if r.Holder != "scan" {
		t.Errorf("lease holder = %q, want scan", r.Holder)
	}
	if r.Since.IsZero() {
		t.Error("lease reason has no time taken")
	}
	if kept.Version != "1.0.0" {
		t.Errorf("version of the pinned kit = %q, want 1.0.0", kept.Version)
	}
}

func TestGCKeepsUncheckableLeaseUntilTTL(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	proc := currentProcess()
	proc.PID, proc.Host = exitedPID(t), "another-host.invalid"
	old, _ := leasedOldKit(t, s, proc)

	rep, err := s.GC(ctx, GCOptions{KeepHistory: -1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	kept := keptReasons(t, rep, old.index.Digest)
	r := kept.Reasons[0]
	if r.HolderRunning {
		t.Error("HolderRunning is true for a process on another host")
	}
	if want := r.Since.Add(DefaultLeaseTTL); !r.Until.Equal(want) {
		t.Errorf("Until = %v, want %v", r.Until, want)
	}

	rep, err = s.GC(ctx, GCOptions{KeepHistory: -1, LeaseTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rep.KeptKits, old.index.Digest) {
		t.Error("GC kept a kit whose uncheckable lease is older than the TTL")
	}
}

func TestGCIgnoresLeaseOfZombie(t *testing.T) {
	requireProcfs(t)
	cmd := exec.Command("sleep", "0")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run sleep: %v", err)
	}
	defer func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	start := ""
	for range 500 {
		s, state, err := readProcStat(pid)
		if err != nil {
			t.Fatalf("reading the child's stat: %v", err)
		}
		if state == "Z" {
			start = s
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if start == "" {
		t.Skip("the child did not exit in time")
	}

	proc := currentProcess()
	proc.PID, proc.Start = pid, start
	if got := checkHolder(proc, currentProcess()); got != holderGone {
		t.Errorf("checkHolder(exited, unreaped child) = %d, want holderGone", got)
	}
}

func TestGCKeptReasons(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	var kits []*testGraph
	for i, version := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		g := pushKit(t, s, uint64(31+i))
		kits = append(kits, g)
		if err := s.Activate(ctx, KitRecord{Digest: g.index.Digest, Version: version}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Tag(ctx, kits[2].index, "mirror"); err != nil {
		t.Fatal(err)
	}

	rep, err := s.GC(ctx, GCOptions{KeepHistory: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.KeptReasons) != len(rep.KeptKits) {
		t.Fatalf("%d reasons for %d kept kits", len(rep.KeptReasons), len(rep.KeptKits))
	}
	for i, k := range rep.KeptReasons {
		if k.Digest != rep.KeptKits[i] {
			t.Errorf("KeptReasons[%d] is %s, KeptKits[%d] is %s", i, k.Digest, i, rep.KeptKits[i])
		}
	}
	active := keptReasons(t, rep, kits[2].index.Digest)
	if kinds := reasonKinds(active); kinds != "active,tag" {
		t.Errorf("reasons for the active, tagged kit = %s, want active,tag", kinds)
	}
	if active.Reasons[1].Tag != "mirror" {
		t.Errorf("tag reason names %q, want mirror", active.Reasons[1].Tag)
	}
	previous := keptReasons(t, rep, kits[1].index.Digest)
	if kinds := reasonKinds(previous); kinds != "history" {
		t.Errorf("reasons for the previous kit = %s, want history", kinds)
	}
	if previous.Reasons[0].Position != 1 {
		t.Errorf("position of the previous kit = %d, want 1", previous.Reasons[0].Position)
	}
	if previous.Version != "2.0.0" {
		t.Errorf("version of the previous kit = %q, want 2.0.0", previous.Version)
	}
	if slices.Contains(rep.KeptKits, kits[0].index.Digest) {
		t.Error("GC kept the oldest kit beyond KeepHistory 1")
	}
}

func TestDecodeLeaseForms(t *testing.T) {
	taken := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	bare, err := decodeLease([]byte(taken.Format(time.RFC3339Nano)))
	if err != nil {
		t.Fatalf("decoding the bare time that Pin writes: %v", err)
	}
	if !bare.Taken.Equal(taken) || bare.PID != 0 {
		t.Errorf("bare lease = %+v, want time %v and no PID", bare, taken)
	}
	rec, err := decodeLease([]byte(`{"taken":"2026-12-01T08:00:00Z","pid":42,"start":"7"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Taken.Equal(taken) || rec.PID != 42 || rec.Start != "7" {
		t.Errorf("lease record = %+v", rec)
	}
	for _, bad := range []string{`{"pid":42}`, `{"taken":`, "yesterday"} {
		if _, err := decodeLease([]byte(bad)); err == nil {
			t.Errorf("decodeLease(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n"
	start, state, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if start != "98765" {
		t.Errorf("start = %q, want 98765", start)
	}
	if state != "S" {
		t.Errorf("state = %q, want S", state)
	}
	for _, bad := range []string{"", "1234 (sleep", "1234 (sleep) S 1 2", strings.Replace(line, "98765", "x", 1)} {
		if _, _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	if raw, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(raw)
	}
	f.Add([]byte("1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("7 ()) ( Z"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		start, state, err := parseProcStat(raw)
		if err != nil {
			return
		}
		if start == "" || state == "" {
			t.Errorf("parseProcStat(%q) = %q, %q with no error", raw, start, state)
		}
	})
}

func keptReasons(t *testing.T, rep GCReport, d digest.Digest) KeptKit {
	t.Helper()
	for _, k := range rep.KeptReasons {
		if k.Digest == d {
			return k
		}
	}
	t.Fatalf("GC did not keep %s; kept %v", d, rep.KeptKits)
	return KeptKit{}
}

func reasonKinds(k KeptKit) string {
	kinds := make([]string, len(k.Reasons))
	for i, r := range k.Reasons {
		kinds[i] = r.Kind
	}
	return strings.Join(kinds, ",")
}

// A store without an active kit keeps no root, and the report still
// writes both root lists as JSON arrays.
func TestGCReportEmptyListsJSON(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	pushKit(t, s, 41)
	rep, err := s.GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"keptKits":[]`, `"keptReasons":[]`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("report %s lacks %s", raw, field)
		}
	}
}
