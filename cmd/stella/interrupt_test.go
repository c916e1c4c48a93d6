package main

import (
	"context"
	"strings"
	"testing"
)

// TestInterruptedMessageFitsCommand checks that the line printed after an
// interrupt describes what the command leaves behind.
func TestInterruptedMessageFitsCommand(t *testing.T) {
	cases := []struct {
		args  []string
		wants []string
		// avoid is text that would be wrong for the command.
		avoid string
	}{
		{[]string{"ouk", "build", "-o", "k.tar"}, []string{"no kit was written", "run the same command again"}, "active kit"},
		{[]string{"ouk", "build", "--base", "b.tar", "--delta", "-o", "d.tar"},
			[]string{"neither the kit nor its delta was written"}, "active kit"},
		{[]string{"ouk", "delta", "--from", "a.tar", "--to", "b.tar", "-o", "d.tar"},
			[]string{"no delta was written"}, "active kit"},
		{[]string{"ouk", "gc"}, []string{"may have removed", "may be gone", "Run the same command again"}, ""},
		{[]string{"ouk", "gc", "--dry-run"}, []string{"a dry run removes nothing"}, "active kit"},
		{[]string{"ouk", "verify", "--key", "k.pub", "k.tar"}, []string{"changes nothing"}, "active kit"},
		{[]string{"db", "lookup", "CVE-2099-0001"}, []string{"changes nothing"}, "active kit"},
		{[]string{"ouk", "import", "k.tar"}, []string{"the active kit is unchanged"}, ""},
		{[]string{"ouk", "push", "k.tar", "127.0.0.1:5000/kit:1"}, []string{"skips the blobs the registry already holds"}, ""},
	}
	for _, c := range cases {
		cmd, rest, err := newRootCommand().Find(c.args)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		msg := interruptedMessage(cmd, context.Canceled)
		for _, want := range c.wants {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: message %q does not say %q", c.args, msg, want)
			}
		}
		if c.avoid != "" && strings.Contains(msg, c.avoid) {
			t.Errorf("%q: message %q mentions %q", c.args, msg, c.avoid)
		}
	}
}

// TestInterruptedWaitMessage checks that a command stopped while it
// waited for the store states that it changed nothing, since it never took
// the store.
func TestInterruptedWaitMessage(t *testing.T) {
	waitErr := &storeWaitInterruptedError{err: context.Canceled}
	for _, args := range [][]string{{"ouk", "gc"}, {"ouk", "import", "k.tar"}, {"ouk", "status"}} {
		cmd, rest, err := newRootCommand().Find(args)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		msg := interruptedMessage(cmd, waitErr)
		if !strings.Contains(msg, "changed nothing") {
			t.Errorf("%q: message %q does not say that the command changed nothing", args, msg)
		}
		if strings.Contains(msg, "may have removed") {
			t.Errorf("%q: message %q says that blobs may be removed", args, msg)
		}
	}
}
