package cas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// leaseRecord is the value of a lease key that PinProcess writes. Pin
// writes only the RFC 3339 time the lease was taken, and decodeLease reads
// both forms.
type leaseRecord struct {
	// Taken is when the lease was taken.
	Taken time.Time `json:"taken"`
	// process identifies the holder's process, so that GC can tell whether
	// it still runs. A zero PID means no process is recorded.
	process
}

// process identifies a process on one host across PID reuse and reboots.
type process struct {
	PID int `json:"pid,omitempty"`
	// Start is the process start time in clock ticks after boot, field 22
	// of /proc/PID/stat. A new process that reuses the PID has another.
	Start string `json:"start,omitempty"`
	// Boot is the kernel's boot ID, which changes on every reboot.
	Boot string `json:"boot,omitempty"`
	// PIDNamespace is the link target of /proc/PID/ns/pid, such as
	// "pid:[4026531836]". A PID means nothing outside its namespace.
	PIDNamespace string `json:"pidNamespace,omitempty"`
	// Host is the host name the process ran on.
	Host string `json:"host,omitempty"`
}

// holderState is GC's finding about the process that holds a lease.
type holderState int

const (
	// holderUnknown means GC cannot check the holder: the lease records no
	// process, or one on another host or in another PID namespace, or
	// /proc is not available. The lease TTL bounds such a lease.
	holderUnknown holderState = iota
	// holderRunning means the recorded process still runs.
	holderRunning
	// holderGone means the recorded process has exited, the host has
	// rebooted since, or its PID now belongs to another process.
	holderGone
)

// PinProcess takes a lease on d for holder, like Pin, and records the
// current process in it. GC then treats the lease as stale as soon as this
// process has exited, even when it exited without calling release, such as
// after a signal. Where GC cannot check the process (another host, another
// PID namespace, no /proc), GCOptions.LeaseTTL bounds the lease as it
// bounds one from Pin. The returned release deletes the lease; calling it
// more than once is harmless.
func (s *Store) PinProcess(_ context.Context, d digest.Digest, holder string) (func(), error) {
	if err := checkPin(d, holder); err != nil {
		return nil, err
	}
	return s.pinAs(d, holder, currentProcess())
}

// pinAs writes a lease on d for holder that records proc, and returns the
// function that deletes it.
func (s *Store) pinAs(d digest.Digest, holder string, proc process) (func(), error) {
	value, err := json.Marshal(leaseRecord{Taken: time.Now().UTC(), process: proc})
	if err != nil {
		return nil, fmt.Errorf("encoding lease on %s: %w", d, err)
	}
	return s.writeLease(d, holder, value)
}

// decodeLease reads a lease value: a JSON leaseRecord, or the bare RFC 3339
// time that Pin writes.
func decodeLease(value []byte) (leaseRecord, error) {
	var rec leaseRecord
	if bytes.HasPrefix(value, []byte("{")) {
		if err := json.Unmarshal(value, &rec); err != nil {
			return rec, err
		}
		if rec.Taken.IsZero() {
			return rec, errors.New("lease has no time taken")
		}
		return rec, nil
	}
	taken, err := time.Parse(time.RFC3339Nano, string(value))
	if err != nil {
		return rec, err
	}
	rec.Taken = taken
	return rec, nil
}

// currentProcess describes this process. Fields it cannot read stay empty,
// and GC then cannot check the lease (see holderUnknown).
func currentProcess() process {
	pid := os.Getpid()
	p := process{PID: pid}
	p.Host, _ = os.Hostname()
	p.Boot, _ = readBootID()
	p.PIDNamespace, _ = os.Readlink("/proc/self/ns/pid")
	if start, _, err := readProcStat(pid); err == nil {
		p.Start = start
	}
	return p
}

// checkHolder reports whether the process a lease records still runs. here
// describes the process running GC.
func checkHolder(p process, here process) holderState {
	if p.PID <= 0 || p.Host == "" || p.Host != here.Host {
		return holderUnknown
	}
	if here.Boot == "" || p.Boot == "" {
		return holderUnknown
	}
	if p.Boot != here.Boot {
		return holderGone // the host rebooted, which ended every process
	}
	if p.PIDNamespace == "" || p.PIDNamespace != here.PIDNamespace {
		return holderUnknown
	}
	start, state, err := readProcStat(p.PID)
	if errors.Is(err, fs.ErrNotExist) {
		return holderGone
	}
	if err != nil {
		return holderUnknown
	}
	if p.Start != "" && start != p.Start {
		return holderGone // the PID now names a newer process
	}
	if state == "Z" || state == "X" {
		return holderGone // exited, only not yet reaped by its parent
	}
	return holderRunning
}

// pidExists reports whether /proc lists a process with pid. It returns
// true when /proc cannot be read, so that a caller does not take a running
// process for an exited one.
func pidExists(pid int) bool {
	if _, err := os.Stat("/proc/self"); err != nil {
		return true
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return !errors.Is(err, fs.ErrNotExist)
}

// readBootID returns the kernel's boot ID from procfs (Linux only).
func readBootID() (string, error) {
	raw, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

// readProcStat returns the start time (field 22, in clock ticks after boot)
// and the state letter (field 3) of process pid from /proc/PID/stat. A
// process that does not exist returns an error wrapping fs.ErrNotExist.
func readProcStat(pid int) (start, state string, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", err
	}
	return parseProcStat(raw)
}

// parseProcStat extracts the state and start time from the text of
// /proc/PID/stat. The command name in field 2 may hold spaces and
// parentheses, so the fields after it are counted from its last ')'.
func parseProcStat(raw []byte) (start, state string, err error) {
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return "", "", errors.New("process stat has no command name")
	}
	// fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
	fields := strings.Fields(string(raw[end+1:]))
	if len(fields) < 20 {
		return "", "", fmt.Errorf("process stat has %d fields after the command name, want at least 20", len(fields))
	}
	if _, err := strconv.ParseUint(fields[19], 10, 64); err != nil {
		return "", "", fmt.Errorf("process start time %q is not a number", fields[19])
	}
	return fields[19], fields[0], nil
}
