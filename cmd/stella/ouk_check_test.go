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
