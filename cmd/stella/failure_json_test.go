package main

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
)

// TestFlagErrorNamesImportSource checks that the JSON failure
// object of an import stopped by a bad flag still names the SOURCE of the
// command line.
func TestFlagErrorNamesImportSource(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // "" when the object has no source
	}{
		{"value after =", []string{"ouk", "import", "-o", "json", "--lock-timeout=abc", "kit.tar.zst"}, "kit.tar.zst"},
		{"value as next argument", []string{"ouk", "import", "-o", "json", "--lock-timeout", "abc", "kit.tar.zst"}, "kit.tar.zst"},
		{"source before the flag", []string{"ouk", "import", "kit.tar.zst", "-ojson", "--lock-timeout", "abc"}, "kit.tar.zst"},
		{"global flags first", []string{"--store", "site", "-v", "ouk", "import", "--key", "k.pub", "-o", "json",
			"--lock-timeout=abc", "-"}, "-"},
		{"after --", []string{"ouk", "import", "-o", "json", "--lock-timeout=abc", "--", "-kit.tar"}, "-kit.tar"},
		{"password removed", []string{"ouk", "import", "-o", "json", "--lock-timeout=abc",
			"oci://user:secret@127.0.0.1:5000/ouk:1"}, "oci://xxxxx@127.0.0.1:5000/ouk:1"},
		{"no source", []string{"ouk", "import", "-o", "json"}, ""},
		{"two sources", []string{"ouk", "import", "-o", "json", "a.tar", "b.tar"}, ""},
	}
	for _, c := range cases {
		root := newRootCommand()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(c.args)
		cmd, err := root.ExecuteC()
		if err == nil {
			t.Errorf("%s: the command line was accepted", c.name)
			continue
		}
		raw, err := json.Marshal(failureObject(cmd, c.args, "bad flag", errors.New("bad flag"), exitUsage))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		source, has := got["source"]
		switch {
		case c.want == "" && has:
			t.Errorf("%s: failure object %s has a source", c.name, raw)
		case c.want != "" && source != c.want:
			t.Errorf("%s: failure object %s, want source %q", c.name, raw, c.want)
		}
	}
}

func TestCommandOperandsSkipsFlagValues(t *testing.T) {
	root := newRootCommand()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	args := []string{"-q", "ouk", "-v", "push", "--plain-http", "-vo", "json", "kit.tar", "--lock-timeout", "1s",
		"127.0.0.1:5000/kit:1"}
	root.SetArgs(append(args, "--bogus"))
	cmd, _ := root.ExecuteC()
	got := commandOperands(cmd, args)
	want := []string{"kit.tar", "127.0.0.1:5000/kit:1"}
	if !slices.Equal(got, want) {
		t.Errorf("commandOperands(%q) = %q, want %q", args, got, want)
	}
}
