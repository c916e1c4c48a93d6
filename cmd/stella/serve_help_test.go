package main

import (
	"strings"
	"testing"
)

// serveHelp returns the long help of stella serve, with each run of
// white space turned into one space.
func serveHelp(t *testing.T) string {
	t.Helper()
	cmd, _, err := newRootCommand().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(cmd.Long), " ")
}

// The help of stella serve names every command that runs in the service.
func TestServeHelpNamesForwardedCommands(t *testing.T) {
	help := serveHelp(t)
	start := strings.Index(help, "these commands run in it: ")
	if start < 0 {
		t.Fatalf("the help of stella serve has no list of the commands that run in the service:\n%s", help)
	}
	list, _, _ := strings.Cut(help[start:], ".")
	for command := range forwardedCommands {
		if !strings.Contains(list, " "+command+",") && !strings.Contains(list, " "+command+" and") &&
			!strings.HasSuffix(list, " "+command) {
			t.Errorf("the list of commands that run in the service leaves out %q: %s", command, list)
		}
	}
}

// The help of stella serve states that a command the service does not run
// waits up to --lock-timeout and then exits with 4, not until the service
// stops.
func TestServeHelpDescribesOtherCommands(t *testing.T) {
	help := serveHelp(t)
	if !strings.Contains(help, "exit at once with code 4 and a message that names the service") {
		t.Errorf("the help of stella serve does not give the exit code of other commands:\n%s", help)
	}
	if strings.Contains(help, "wait for the service to stop") {
		t.Errorf("the help of stella serve still says that other commands wait for the service to stop:\n%s", help)
	}
}
