package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestNoArgCommandsRejectArgument checks that every command that accepts
// no arguments reports that for an argument, rather than calling it an
// unknown command.
func TestNoArgCommandsRejectArgument(t *testing.T) {
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Args == nil || c.Args(c, nil) != nil {
			return
		}
		err := c.Args(c, []string{"x"})
		if err == nil {
			return // the command takes an optional argument
		}
		checked++
		msg := err.Error()
		// ouk delta names the flags that take its kits instead.
		if c.CommandPath() != "stella ouk delta" &&
			!strings.Contains(msg, c.CommandPath()+` accepts no arguments, but got "x"`) {
			t.Errorf("%s x: error %q does not say that the command accepts no arguments", c.CommandPath(), msg)
		}
		if !strings.Contains(msg, `"x"`) {
			t.Errorf("%s x: error %q does not name the argument", c.CommandPath(), msg)
		}
		if strings.Contains(msg, "unknown command") {
			t.Errorf("%s x: error %q calls the argument an unknown command", c.CommandPath(), msg)
		}
		if _, ok := err.(usageError); !ok {
			t.Errorf("%s x: error %q is not a usage error", c.CommandPath(), msg)
		}
	}
	walk(newRootCommand())
	if checked == 0 {
		t.Fatal("no command that accepts no arguments was found")
	}
}

// TestRunnableCommandsCheckArgs checks that every command checks its
// arguments, because cobra lets a command without a check take any
// argument silently.
func TestRunnableCommandsCheckArgs(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Runnable() && c.Args == nil {
			t.Errorf("%s has no argument check", c.CommandPath())
		}
	}
	walk(newRootCommand())
}
