package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
		if !c.Runnable() || c.HasSubCommands() || c.Args == nil || c.Args(c, nil) != nil {
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

// TestArgLimitMessages checks that every command that rejects some number
// of arguments names itself, its limit and the arguments it got, in the
// style of noArgs, rather than in cobra's "accepts at most 1 arg(s)".
func TestArgLimitMessages(t *testing.T) {
	skip := map[string]bool{
		"stella ouk delta": true, // names the flags that take its kits instead
	}
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.HasSubCommands() || c.Args == nil || skip[c.CommandPath()] {
			return
		}
		for n := 0; n <= 3; n++ {
			args := []string{"a", "b", "c"}[:n]
			err := c.Args(c, args)
			if err == nil {
				continue
			}
			checked++
			msg := err.Error()
			if !strings.HasPrefix(msg, c.CommandPath()+" accepts ") {
				t.Errorf("%s with %d arguments: error %q does not start with the command", c.CommandPath(), n, msg)
			}
			if strings.Contains(msg, "arg(s)") {
				t.Errorf("%s with %d arguments: error %q is cobra's", c.CommandPath(), n, msg)
			}
			for _, a := range args {
				if !strings.Contains(msg, `"`+a+`"`) && !strings.Contains(msg, "no arguments") {
					t.Errorf("%s with %d arguments: error %q does not name %q", c.CommandPath(), n, msg, a)
				}
			}
		}
	}
	walk(newRootCommand())
	if checked == 0 {
		t.Fatal("no command with an argument limit was found")
	}
}

func TestMaxArgsMessage(t *testing.T) {
	c := &cobra.Command{Use: "rollback"}
	err := maxArgs(1)(c, []string{"a", "b"})
	want := `rollback accepts at most one argument, but got 2: "a", "b"`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestExactArgsMessage(t *testing.T) {
	c := &cobra.Command{Use: "push"}
	err := exactArgs(2)(c, nil)
	want := "push accepts exactly two arguments, but got none"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestUnknownSubcommandFails checks that a mistyped subcommand of a command
// that only holds subcommands fails with a usage error that names it and
// suggests the closest subcommand, instead of printing the help with
// success.
func TestUnknownSubcommandFails(t *testing.T) {
	for _, c := range []struct {
		args    []string
		word    string
		command string
		suggest string
	}{
		{[]string{"ouk", "improt", "kit.tar"}, "improt", "stella ouk", "import"},
		{[]string{"db", "lookpu", "CVE-2024-1"}, "lookpu", "stella db", "lookup"},
		{[]string{"quota", "foo"}, "foo", "stella quota", ""},
		{[]string{"scna", "--sbom", "x.json"}, "scna", "stella", "scan"},
		{[]string{"bogus"}, "bogus", "stella", ""},
		// A flag after the mistyped word, which the group command lacks.
		{[]string{"ouk", "improt", "-o", "json", "kit.tar"}, "improt", "stella ouk", "import"},
		{[]string{"scna", "-o", "json"}, "scna", "stella", "scan"},
	} {
		root := newRootCommand()
		root.SetArgs(c.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		if err == nil {
			t.Errorf("stella %s: no error", strings.Join(c.args, " "))
			continue
		}
		if _, ok := err.(usageError); !ok {
			t.Errorf("stella %s: error %q is not a usage error", strings.Join(c.args, " "), err)
		}
		want := fmt.Sprintf("unknown command %q for %q", c.word, c.command)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("stella %s: error %q does not say %s", strings.Join(c.args, " "), err, want)
		}
		if c.suggest != "" && !strings.Contains(err.Error(), fmt.Sprintf("did you mean %q", c.suggest)) {
			t.Errorf("stella %s: error %q does not suggest %s", strings.Join(c.args, " "), err, c.suggest)
		}
	}
}

// TestUnknownCommandJSONFailure checks that a mistyped command asked for
// JSON output prints the failure object and exits with the usage code.
func TestUnknownCommandJSONFailure(t *testing.T) {
	for _, args := range [][]string{{"scna", "-o", "json"}, {"ouk", "improt", "--output=json", "kit.tar"}} {
		var stdout, stderr bytes.Buffer
		code := runRequest(context.Background(), args, strings.NewReader(""), &stdout, &stderr, nil, nil)
		if code != exitUsage {
			t.Errorf("stella %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, stderr.String())
		}
		var got commandFailure
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Errorf("stella %s: stdout %q is not a failure object: %v", strings.Join(args, " "), stdout.String(), err)
			continue
		}
		if got.Status != "failed" {
			t.Errorf("stella %s: status %q, want failed", strings.Join(args, " "), got.Status)
		}
		if !strings.Contains(got.Error, "unknown command") {
			t.Errorf("stella %s: error %q does not name the unknown command", strings.Join(args, " "), got.Error)
		}
		if got.ExitCode != exitUsage {
			t.Errorf("stella %s: exitCode %d, want %d", strings.Join(args, " "), got.ExitCode, exitUsage)
		}
	}
}

// TestGroupCommandWithoutArgumentsPrintsHelp checks that a command that only
// holds subcommands still prints its help, with success, when it is given
// no subcommand.
func TestGroupCommandWithoutArgumentsPrintsHelp(t *testing.T) {
	root := newRootCommand()
	var out strings.Builder
	root.SetArgs([]string{"ouk"})
	root.SetOut(&out)
	if err := root.Execute(); err != nil {
		t.Fatalf("stella ouk: %v", err)
	}
	if !strings.Contains(out.String(), "Available Commands") {
		t.Errorf("stella ouk printed %q, want its help", out.String())
	}
}

// TestStoreTildeIsUsageError checks that a store path that starts with an
// unexpanded ~ fails as a usage error that names the setting, instead of
// creating a folder named ~ in the working folder.
func TestStoreTildeIsUsageError(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		store, home, name string
	}{
		{"~/stella", "", "--store"},
		{"", "~/stella", "STELLA_HOME"},
		{"", "~", "STELLA_HOME"},
		{"~ops/stella", "", "--store"},
	}
	for _, c := range cases {
		t.Setenv("STELLA_HOME", c.home)
		g := &globalOptions{store: c.store}
		_, err := g.storeDir()
		if _, ok := err.(usageError); !ok {
			t.Errorf("store %q, STELLA_HOME %q: error %v, want a usage error", c.store, c.home, err)
			continue
		}
		if !strings.Contains(err.Error(), c.name) {
			t.Errorf("store %q, STELLA_HOME %q: error %q does not name %s", c.store, c.home, err, c.name)
		}
	}
	t.Setenv("STELLA_HOME", "")
	g := &globalOptions{store: "site~1/store"}
	if _, err := g.storeDir(); err != nil {
		t.Errorf("store site~1/store: %v", err)
	}
}

// fakeTerminal is an output that reports itself as a terminal.
type fakeTerminal struct{ bytes.Buffer }

func (*fakeTerminal) isTerminal() bool { return true }

// TestExportToTerminalRefused checks that ouk export -o - refuses to write
// the kit's tar stream to a terminal, before it opens the store.
func TestExportToTerminalRefused(t *testing.T) {
	var stdout fakeTerminal
	var stderr bytes.Buffer
	args := []string{"--store", t.TempDir(), "ouk", "export", "-o", "-"}
	code := runRequest(context.Background(), args, strings.NewReader(""), &stdout, &stderr, nil, nil)
	if code != exitUsage {
		t.Errorf("export -o - to a terminal: exit %d, want %d\n%s", code, exitUsage, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("export -o - wrote %d bytes to the terminal", stdout.Len())
	}
	if !strings.Contains(stderr.String(), "which is a terminal") {
		t.Errorf("export -o - to a terminal: stderr does not say why: %s", stderr.String())
	}
}

// TestOutputTildeIsUsageError checks that an output path that starts with
// an unexpanded ~ fails as a usage error that names the flag, instead of
// writing into a folder named ~.
func TestOutputTildeIsUsageError(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"ouk", "export", "-o", "~/kit.tar"}, "-o"},
		{[]string{"ouk", "keygen", "--output-dir", "~/keys"}, "--output-dir"},
		{[]string{"ouk", "sign", "--key", "k", "--output-signature", "~/kit.sig", "kit.tar"}, "--output-signature"},
		{[]string{"ouk", "delta", "--from", "a.tar", "--to", "b.tar", "-o", "~/d.tar"}, "-o"},
	} {
		var stdout, stderr bytes.Buffer
		code := runRequest(context.Background(), c.args, strings.NewReader(""), &stdout, &stderr, nil, nil)
		if code != exitUsage {
			t.Errorf("stella %s: exit %d, want %d\n%s", strings.Join(c.args, " "), code, exitUsage, stderr.String())
		}
		if want := c.flag + ` is "~/`; !strings.Contains(stderr.String(), want) {
			t.Errorf("stella %s: stderr does not contain %q: %s", strings.Join(c.args, " "), want, stderr.String())
		}
		if _, err := os.Stat("~"); err == nil {
			t.Errorf("stella %s created a folder named ~", strings.Join(c.args, " "))
		}
	}
}

// TestOutputInSystemFolderRejected checks that an output path in /dev,
// /proc or /sys is a usage error. It only calls the check, so a failure
// cannot replace a file of the system.
func TestOutputInSystemFolderRejected(t *testing.T) {
	for _, path := range []string{"/dev/stdout", "/dev/kit.tar", "/proc/self/fd/1", "/sys/kit.sig", "/dev"} {
		err := checkOutputNotSpecial("-o", path, path)
		if _, ok := err.(usageError); !ok {
			t.Errorf("output %s: error %v, want a usage error", path, err)
			continue
		}
		if !strings.Contains(err.Error(), "file of the system") {
			t.Errorf("output %s: error %q does not say why", path, err)
		}
	}
	if err := checkOutputNotSpecial("-o", filepath.Join(t.TempDir(), "kit.tar"), "kit.tar"); err != nil {
		t.Errorf("output in a temporary folder: %v", err)
	}
	// A file that does not exist yet in the tmpfs of /dev/shm.
	if err := checkOutputNotSpecial("-o", "/dev/shm/stella-test-absent/kit.tar", "kit.tar"); err != nil {
		t.Errorf("output in /dev/shm: %v", err)
	}
}

// TestHelpUnknownTopic checks that help for a command that does not exist
// fails with the usage code, while help for a command prints its help.
func TestHelpUnknownTopic(t *testing.T) {
	for _, args := range [][]string{{"help", "improt"}, {"help", "ouk", "improt"}} {
		var stdout, stderr bytes.Buffer
		code := runRequest(context.Background(), args, strings.NewReader(""), &stdout, &stderr, nil, nil)
		if code != exitUsage {
			t.Errorf("stella %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), "no help topic") {
			t.Errorf("stella %s: stderr does not name the topic: %s", strings.Join(args, " "), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	code := runRequest(context.Background(), []string{"help", "ouk", "import"}, strings.NewReader(""), &stdout, &stderr, nil, nil)
	if code != exitOK {
		t.Errorf("stella help ouk import: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "stella ouk import") {
		t.Errorf("stella help ouk import printed no help of import:\n%s", stdout.String())
	}
}

// The shell completes command names after "stella help" as it does after
// "stella".
func TestHelpCompletesCommandNames(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "help", "o"}, "ouk\t"},
		{[]string{"__complete", "help", "ouk", "im"}, "import\t"},
	} {
		var stdout, stderr bytes.Buffer
		code := runRequest(context.Background(), c.args, strings.NewReader(""), &stdout, &stderr, nil, nil)
		if code != exitOK {
			t.Errorf("stella %s: exit %d\n%s", strings.Join(c.args, " "), code, stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), c.want) {
			t.Errorf("stella %s: completions %q, want one starting with %q", strings.Join(c.args, " "), stdout.String(), c.want)
		}
	}
}

// An empty --store or STELLA_HOME, as from a variable a script did not
// set, is a usage error rather than the default store.
func TestEmptyStoreIsUsageError(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	// Restores the variable after the test, which sets and unsets it.
	t.Setenv("STELLA_HOME", "")
	cases := []struct {
		name string
		args []string
		home *string
	}{
		{"--store", []string{"--store", "", "ouk", "status"}, nil},
		{"--store", []string{"--store= ", "ouk", "history"}, nil},
		{"STELLA_HOME", []string{"ouk", "status"}, new(string)},
	}
	for _, c := range cases {
		os.Unsetenv("STELLA_HOME")
		if c.home != nil {
			os.Setenv("STELLA_HOME", *c.home)
		}
		var stdout, stderr bytes.Buffer
		code := runRequest(context.Background(), c.args, strings.NewReader(""), &stdout, &stderr, nil, nil)
		if code != exitUsage {
			t.Errorf("stella %q: exit %d, want %d\n%s", c.args, code, exitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.name) || !strings.Contains(stderr.String(), "empty") {
			t.Errorf("stella %q: stderr does not say %s is empty: %s", c.args, c.name, stderr.String())
		}
	}
}

// A keygen --output-dir under a symbolic link whose target is missing is
// named as such, not as a file.
func TestKeygenOutputDirDanglingLink(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "")
	dir := t.TempDir()
	link := filepath.Join(dir, "keys")
	if err := os.Symlink(filepath.Join(dir, "missing"), link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{link, filepath.Join(link, "sub")} {
		var stdout, stderr bytes.Buffer
		args := []string{"--store", filepath.Join(dir, "store"), "ouk", "keygen", "--output-dir", out}
		code := runRequest(context.Background(), args, strings.NewReader(""), &stdout, &stderr, nil, nil)
		if code != exitUsage {
			t.Errorf("keygen into %s: exit %d, want %d\n%s", out, code, exitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), link+" is a symbolic link to") {
			t.Errorf("keygen into %s: stderr does not name the link: %s", out, stderr.String())
		}
	}
}
