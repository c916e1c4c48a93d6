package sbom

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFileThatShrinks(t *testing.T) {
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[` +
		strings.Repeat(`{"type":"library","name":"a","version":"1.0.0"},`, 200) +
		`{"type":"library","name":"b","version":"2.0.0"}]}`
	path := filepath.Join(t.TempDir(), "sbom.cdx.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc2, err := openDocument(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}

	// The writer cuts the file to half its size after it was opened.
	if err := os.Truncate(path, int64(len(doc)/2)); err != nil {
		t.Fatal(err)
	}

	_, _, err = parseDocument(context.Background(), doc2)
	if err == nil {
		t.Fatal("parse of a file cut during the parse succeeded")
	}
	if !errors.Is(err, ErrChanged) {
		t.Errorf("parse error %v, want ErrChanged", err)
	}
	if !strings.Contains(err.Error(), "was rewritten or truncated while it was read") {
		t.Errorf("parse error %q does not say that the file changed", err)
	}
	if _, err := doc2.readAll(); !errors.Is(err, ErrChanged) {
		t.Errorf("readAll of the cut file: %v, want ErrChanged", err)
	}
}
