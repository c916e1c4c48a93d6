package vulndb

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestBuildIgnoresFeedOrder(t *testing.T) {
	feeds := filepath.Join("..", "..", "testdata", "feeds")
	a := Feed{Kind: "osv", Path: filepath.Join(feeds, "osv")}
	b := Feed{Kind: "osv", Path: filepath.Join(feeds, "regional")}
	build := func(order ...Feed) []byte {
		res, err := Build(context.Background(), BuildOptions{Feeds: order, Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Config
	}
	if !bytes.Equal(build(a, b), build(b, a)) {
		t.Errorf("the DB config depends on the order of two feeds of one kind")
	}
}

func TestBuildIgnoresFeedOrderSameCounts(t *testing.T) {
	// Two feeds of one kind, both folders named "osv", with one record each,
	// the same modified time and different ecosystems, so only their
	// ecosystem counts tell them apart in the DB config.
	root := t.TempDir()
	writeFile(t, root, "a/osv/A-1.json", `{"id":"A-1","modified":"2024-01-01T00:00:00Z",`+
		`"affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`)
	writeFile(t, root, "b/osv/B-1.json", `{"id":"B-1","modified":"2024-01-01T00:00:00Z",`+
		`"affected":[{"package":{"ecosystem":"PyPI","name":"b"},"versions":["1.0"]}]}`)
	a := Feed{Kind: "osv", Path: filepath.Join(root, "a", "osv")}
	b := Feed{Kind: "osv", Path: filepath.Join(root, "b", "osv")}
	build := func(order ...Feed) []byte {
		res, err := Build(context.Background(), BuildOptions{Feeds: order, Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Config
	}
	if ab, ba := build(a, b), build(b, a); !bytes.Equal(ab, ba) {
		t.Errorf("the DB config depends on the order of two feeds that differ only in ecosystems:\n%s\n%s", ab, ba)
	}
}
