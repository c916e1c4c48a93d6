package main

import (
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clientWarningInterval is the time after a warning about a client in
// which the store service logs no more lines with the same message. It
// counts them and logs one summary line at the end of the interval.
const clientWarningInterval = time.Minute

// maxSummaryUIDs bounds the user IDs that a summary line lists with their
// counts. The clients of further user IDs are counted together.
const maxSummaryUIDs = 16

// clientWarnings logs the warnings that clients cause, such as one per
// idle connection, without one line per client. A burst of hundreds of
// clients would otherwise bury the other lines of the service's log. Its
// zero value is ready to use.
type clientWarnings struct {
	mu       sync.Mutex
	log      *slog.Logger
	interval time.Duration // clientWarningInterval when zero
	byMsg    map[string]*repeatedWarning
}

// repeatedWarning is the state of one message of clientWarnings.
type repeatedWarning struct {
	// quietUntil is the end of the interval that the last line of this
	// message started.
	quietUntil time.Time
	// repeats counts the warnings since that line, repeatsByUID counts
	// them by the client's user ID, and otherUIDs counts those of user
	// IDs past maxSummaryUIDs.
	repeats      int
	repeatsByUID map[int]int
	otherUIDs    int
	// lastUID, lastPID and lastAttrs are the client and the attributes
	// of the latest warning counted.
	lastUID, lastPID int
	lastAttrs        []any
	timer            *time.Timer
}

// warn logs msg with the client's user and process IDs and attrs at once
// when msg was not logged within the interval. Otherwise it counts the
// warning for the summary line at the end of the interval.
func (w *clientWarnings) warn(log *slog.Logger, msg string, uid, pid int, attrs ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = log
	if w.byMsg == nil {
		w.byMsg = map[string]*repeatedWarning{}
	}
	state := w.byMsg[msg]
	if state == nil {
		state = &repeatedWarning{}
		w.byMsg[msg] = state
	}

	now := time.Now()
	if state.repeats == 0 && !now.Before(state.quietUntil) {
		log.Warn(msg, append([]any{"uid", uid, "pid", pid}, attrs...)...)
		state.quietUntil = now.Add(w.intervalOrDefault())
		return
	}

	if state.repeatsByUID == nil {
		state.repeatsByUID = map[int]int{}
	}
	state.repeats++
	if _, ok := state.repeatsByUID[uid]; ok || len(state.repeatsByUID) < maxSummaryUIDs {
		state.repeatsByUID[uid]++
	} else {
		state.otherUIDs++
	}
	state.lastUID, state.lastPID, state.lastAttrs = uid, pid, attrs
	if state.timer == nil {
		state.timer = time.AfterFunc(state.quietUntil.Sub(now), func() { w.summarize(msg) })
	}
}

// summarize logs the summary line of msg, if any warning was counted.
func (w *clientWarnings) summarize(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	state := w.byMsg[msg]
	if state == nil {
		return
	}
	state.timer = nil
	if state.repeats == 0 {
		return
	}
	w.logSummary(msg, state)
	// The summary starts an interval of its own, so that a steady stream
	// of clients gives one line per interval.
	state.quietUntil = time.Now().Add(w.intervalOrDefault())
}

// flush logs the summary lines of all messages now, as when the service
// stops, so that no count is lost.
func (w *clientWarnings) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := make([]string, 0, len(w.byMsg))
	for msg := range w.byMsg {
		msgs = append(msgs, msg)
	}
	sort.Strings(msgs)
	for _, msg := range msgs {
		state := w.byMsg[msg]
		if state.timer != nil {
			state.timer.Stop()
			state.timer = nil
		}
		if state.repeats > 0 {
			w.logSummary(msg, state)
		}
	}
}

// logSummary logs the summary line of msg and resets its counts. The
// caller holds w.mu.
func (w *clientWarnings) logSummary(msg string, state *repeatedWarning) {
	since := state.quietUntil.Add(-w.intervalOrDefault()).UTC().Format(time.RFC3339)
	attrs := []any{"repeats", state.repeats, "since", since,
		"uids", formatUIDCounts(state.repeatsByUID, state.otherUIDs), "lastUID", state.lastUID, "lastPID", state.lastPID}
	w.log.Warn(msg+" (repeated)", append(attrs, state.lastAttrs...)...)
	state.repeats, state.repeatsByUID, state.otherUIDs = 0, nil, 0
	state.lastAttrs = nil
}

func (w *clientWarnings) intervalOrDefault() time.Duration {
	if w.interval > 0 {
		return w.interval
	}
	return clientWarningInterval
}

// formatUIDCounts returns counts, a count of clients by user ID, as
// "UID:COUNT" pairs, the largest count first, followed by "other:COUNT"
// for the clients of user IDs that were not kept.
func formatUIDCounts(counts map[int]int, other int) string {
	uids := make([]int, 0, len(counts))
	for uid := range counts {
		uids = append(uids, uid)
	}
	sort.Slice(uids, func(i, j int) bool {
		if counts[uids[i]] != counts[uids[j]] {
			return counts[uids[i]] > counts[uids[j]]
		}
		return uids[i] < uids[j]
	})
	parts := make([]string, 0, len(uids)+1)
	for _, uid := range uids {
		parts = append(parts, fmt.Sprintf("%d:%d", uid, counts[uid]))
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("other:%d", other))
	}
	return strings.Join(parts, ",")
}

// peerCredentials returns the user and process IDs of the process at the
// other end of conn, as the kernel recorded them when it connected.
func peerCredentials(conn *net.UnixConn) (uid, pid int, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if credErr != nil {
		return 0, 0, credErr
	}
	return int(cred.Uid), int(cred.Pid), nil
}
