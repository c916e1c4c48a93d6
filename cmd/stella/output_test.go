package main

import "testing"

func TestEscapeControl(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain name.tar.zst", "plain name.tar.zst"},
		{"bad\x1b[2J.tzst", `bad\x1b[2J.tzst`},
		{"c1\u009b2J", `c1\u009b2J`},
		{"bidi\u202etxt", `bidi\u202etxt`},
		{"line one\n\tline two", "line one\n\tline two"},
	} {
		if got := escapeControl(tc.in); got != tc.want {
			t.Errorf("escapeControl(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDisplayPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"drop/kit.tar.zst", "drop/kit.tar.zst"},
		{"drop/bad\x1b[2J.tzst", `"drop/bad\x1b[2J.tzst"`},
		{"drop/two\nlines", `"drop/two\nlines"`},
	} {
		if got := displayPath(tc.in); got != tc.want {
			t.Errorf("displayPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
