package main

import "testing"

func TestParseSequence(t *testing.T) {
	valid := map[string]int64{"1": 1, "31": 31, "031": 31, "089": 89, "0000000042": 42,
		"9223372036854775807": 9223372036854775807}
	for text, want := range valid {
		got, ok := parseSequence(text)
		if !ok {
			t.Errorf("parseSequence(%q) rejected it, want %d", text, want)
			continue
		}
		if got != want {
			t.Errorf("parseSequence(%q) = %d, want %d", text, got, want)
		}
	}
	invalid := []string{"", "0", "000", "-5", "+5", "0x1f", "0X1F", "0b101", "0o31", "1_000", "3.0", "1e3",
		" 7", "7 ", "٣", "9223372036854775808", "99999999999999999999"}
	for _, text := range invalid {
		if got, ok := parseSequence(text); ok {
			t.Errorf("parseSequence(%q) = %d, want it rejected", text, got)
		}
	}
}
