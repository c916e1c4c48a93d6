package main

import (
	"testing"

	"stella-ops.org/ouk/internal/vulndb"
)

func TestSummaryLineFallsBackToDetails(t *testing.T) {
	cases := []struct {
		rec  vulndb.Record
		want string
	}{
		{vulndb.Record{Summary: "Heap overflow in libwebp", Details: "Long text."}, "Heap overflow in libwebp"},
		{vulndb.Record{Details: "Heap buffer overflow in libwebp\nin Google Chrome  prior to 116."}, "Heap buffer overflow in libwebp in Google Chrome prior to 116."},
		{vulndb.Record{}, ""},
	}
	for _, c := range cases {
		if got := summaryLine(c.rec); got != c.want {
			t.Errorf("summaryLine(%+v) = %q, want %q", c.rec, got, c.want)
		}
	}
}
