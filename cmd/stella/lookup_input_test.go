package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// An ID copied from a document with typographic dashes is looked up with
// ASCII hyphens.
func TestASCIIDashes(t *testing.T) {
	for in, want := range map[string]string{
		"CVE\u20102099\u20100001":            "CVE-2099-0001",
		"GHSA\u2011abcd\u2012efgh\u2013ijkl": "GHSA-abcd-efgh-ijkl",
		"CVE\u22122099-1":                    "CVE-2099-1",
		"CVE-2099-0001":                      "CVE-2099-0001",
	} {
		if got := asciiDashes(in); got != want {
			t.Errorf("asciiDashes(%q) = %q, want %q", in, got, want)
		}
	}
}

// A regional feed without a catalogue name says that the name is missing.
func TestParseFeedEmptyCatalogue(t *testing.T) {
	_, err := parseFeed("regional:=feeds/regional")
	if _, ok := err.(usageError); !ok {
		t.Fatalf("parseFeed: %v, want a usage error", err)
	}
	if !strings.Contains(err.Error(), "names no catalogue") {
		t.Errorf("error %q does not say that the catalogue name is missing", err)
	}
}

// Spaces around a purl are no part of it, and typographic dashes in an ID
// are read as hyphens.
func TestLookupTrimsInput(t *testing.T) {
	e := newEnv(t)
	e.importJSON(e.buildKit("kit.tar"))
	r := e.run("db", "lookup", "--purl", " pkg:npm/stella-demo-untar@2.4.0 ")
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Errorf("lookup of a purl with spaces: exit %d, want 0 and CVE-2099-0001\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("db", "lookup", "CVE\u20102099\u20100001")
	if r.code != 0 || !strings.Contains(r.stdout, "CVE-2099-0001") {
		t.Errorf("lookup of an ID with typographic dashes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// An SBOM whose content cannot be read gets the invalid-sbom reason; one
// that cannot be opened keeps the reason of its file error.
func TestParseSBOMReaderReason(t *testing.T) {
	_, _, err := parseSBOMReader(context.Background(), "cut.json", strings.NewReader(`{"bomFormat":"CycloneDX",`))
	if got := failureReason(err, exitCode(err)); got != "invalid-sbom" {
		t.Errorf("reason of a cut-off SBOM = %q (error %v), want invalid-sbom", got, err)
	}
	_, _, err = parseSBOM(context.Background(), filepath.Join(t.TempDir(), "missing.json"))
	if got := failureReason(err, exitCode(err)); got != "not-found" {
		t.Errorf("reason of a missing SBOM = %q (error %v), want not-found", got, err)
	}
}
