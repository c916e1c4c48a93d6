package cvss

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedVectors are vectors of the forms that feeds carry, valid and not.
var seedVectors = []string{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
	"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H",
	"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/E:P/RL:W/RC:C",
	"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N",
	"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N",
	"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/SC:N/VI:H/SI:N/VA:H/SA:N",
	"CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N/E:U/CR:H/MSI:S/MSA:S/U:Amber",
	"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
	"CVSS:4.0/AV:N/AC:L/AT:N",
	"AV:N/AC:M/Au:N/C:N/I:P/A:N",
	"AV:N/AC:L/Au:N/C:P/I:P/A:P/E:POC/RL:OF/RC:C/CDP:LM/TD:H/CR:M/IR:M/AR:H",
	"CVSS:3.1/AV:N/AV:N",
	"CVSS:3.1//",
	"CVSS:",
	"HIGH",
	"",
	" CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N ",
	"\tCVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\r\n",
	"cvss:4.0/av:n/ac:l/at:n/pr:n/ui:n/vc:h/vi:h/va:h/sc:n/si:n/sa:n",
	"Cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	"CVSS4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
	"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/sa:N",
	" \t ",
}

// sharedVectors returns the CVSS vectors in the public sample records,
// or nil when they are absent: every JSON string that starts with "CVSS:"
// or "AV:".
func sharedVectors() []string {
	root := filepath.Join("..", "..", "..", "shared", "testdata")
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, "CVSS:") || strings.HasPrefix(v, "AV:") {
				out = append(out, v)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, dir := range []string{"nvd", "ghsa", "osv"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.json"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var doc any
			if json.Unmarshal(raw, &doc) == nil {
				walk(doc)
			}
		}
	}
	return out
}

// FuzzParse feeds vectors, which come from feeds and are untrusted, to
// Parse and BaseScore, and so to go-cvss for CVSS v4.0 vectors. Neither
// may panic, every error of Parse must wrap ErrInvalidVector, every
// vector that Parse accepts must get a score, and a score must lie on the
// 0.0 to 10.0 scale in steps of 0.1 with the rating of its version.
func FuzzParse(f *testing.F) {
	for _, v := range seedVectors {
		f.Add(v)
	}
	for _, v := range sharedVectors() {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidVector) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalidVector", s, err)
			}
			return
		}
		score, err := v.BaseScore()
		if err != nil {
			t.Fatalf("BaseScore(%q) of a parsed vector: %v", s, err)
		}
		if score.Base < 0 || score.Base > 10 {
			t.Fatalf("BaseScore(%q) = %v, outside 0 to 10", s, score.Base)
		}
		if tenths := score.Base * 10; math.Abs(tenths-math.Round(tenths)) > 1e-9 {
			t.Fatalf("BaseScore(%q) = %v, not a multiple of 0.1", s, score.Base)
		}
		want := RatingV3(score.Base)
		if v.Version == V2 {
			want = RatingV2(score.Base)
		}
		if score.Rating != want {
			t.Fatalf("BaseScore(%q) rating %q, want %q", s, score.Rating, want)
		}
	})
}
