package build

import (
	"errors"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/layout"
)

// The index.json of a kit file must have schemaVersion 2, as import
// requires, so that verify, which opens kits with OpenKit, rejects what
// import rejects.
func TestReadIndexSchemaVersion(t *testing.T) {
	_, err := readIndex(strings.NewReader(`{"schemaVersion":3,"manifests":[]}`))
	if !errors.Is(err, errdef.ErrInvalidKit) {
		t.Fatalf("err = %v, want ErrInvalidKit", err)
	}
	if !strings.Contains(err.Error(), layout.DamagedIndexAdvice) {
		t.Errorf("error %q does not say that index.json is damaged", err)
	}
	if _, err := readIndex(strings.NewReader(`{"schemaVersion":2,"manifests":[]}`)); err != nil {
		t.Errorf("schemaVersion 2: %v", err)
	}
}
