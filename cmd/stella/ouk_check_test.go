package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The reasons of blobs not reached from a kit read as well for a group
// of blobs as for one.
func TestCheckNotReachedReasonNumber(t *testing.T) {
	c := &storeChecker{unreached: map[digest.Digest]string{}}
	blob := digest.FromString("blob")
	refs := map[digest.Digest]string{blob: "1.0.0"}
	reasons := []string{
		c.notReachedReason(blob, refs, nil),
		c.notReachedReason(digest.FromString("other"), refs, errors.New("reading a record failed")),
	}
	for _, reason := range reasons {
		var out bytes.Buffer
		printCheckReport(&out, checkReport{NotReached: []notReachedBlobs{{Reason: reason, Blobs: 2, Bytes: 1599}}})
		line := "Checked 2 blobs (1.6 KiB) " + reason
		if !strings.Contains(out.String(), line) {
			t.Errorf("report lacks the line %q:\n%s", line, out.String())
		}
		for _, pronoun := range []string{" it ", " it,", "it."} {
			if strings.Contains(reason, pronoun) {
				t.Errorf("reason %q refers to a group of blobs as %q", reason, strings.TrimSpace(pronoun))
			}
		}
	}
}

// The text report counts one key, layer or blob in the singular.
func TestCheckReportSingular(t *testing.T) {
	var out bytes.Buffer
	printCheckReport(&out, checkReport{
		Kits:       []kitCheck{{Version: "1", Blobs: 1, IndexKeys: 1, DBLayers: 1, Signature: "passed"}},
		OtherBlobs: &blobCount{Blobs: 1, Bytes: 10},
		TableKeys:  1,
	})
	for _, want := range []string{"lookup index  1 key in 1 DB layer\n", "Checked 1 blob of no kit",
		"Checked every table of the store: 1 key\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
