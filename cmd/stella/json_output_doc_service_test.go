package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The conventions of docs/json-output.md name the store service as the
// exception to relative paths staying relative, with a link to the
// section of docs/operations.md that describes the service.
func TestJSONOutputDocNotesServicePaths(t *testing.T) {
	docs := filepath.Join(repoRoot(t), "docs")
	raw, err := os.ReadFile(filepath.Join(docs, "json-output.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, conventions, found := strings.Cut(string(raw), "\n## Conventions\n")
	if !found {
		t.Fatal(`docs/json-output.md has no section "## Conventions"`)
	}
	conventions, _, _ = strings.Cut(conventions, "\n## ")
	if !strings.Contains(conventions, "stays relative") {
		t.Fatalf("the conventions of docs/json-output.md no longer state that relative paths stay relative:\n%s",
			conventions)
	}
	if !strings.Contains(conventions, "(operations.md#the-store-service)") {
		t.Errorf("the conventions of docs/json-output.md do not link the store service as the exception to "+
			"relative paths:\n%s", conventions)
	}

	operations, err := os.ReadFile(filepath.Join(docs, "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(operations), "\n### The store service\n") {
		t.Error(`docs/operations.md has no section "### The store service" for the link of docs/json-output.md`)
	}
}
