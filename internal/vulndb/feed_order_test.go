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
