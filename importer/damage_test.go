package importer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
)

// TestImportDamagedIndexJSON flips one bit of index.json in a kit file,
// as damage in transit does, and checks that the rejection advises copying
// the kit again. No signature covers index.json.
func TestImportDamagedIndexJSON(t *testing.T) {
	f := newFixture(t)
	kit := f.kit("1.0.0", 1)
	mediaType := []byte(`"mediaType":"application/vnd.oci.image.index.v1+json","digest"`)
	cases := map[string]func([]byte){
		// The first entry of index.json is the bundle index.
		"media type":  func(b []byte) { b[bytes.Index(b, mediaType)+len(`"mediaType":"`)] ^= 1 },
		"JSON syntax": func(b []byte) { b[bytes.Index(b, []byte(`{"schemaVersion":2`))+1] ^= 1 },
	}
	for name, damage := range cases {
		raw := bytes.Clone(kit)
		damage(raw)
		_, err := ImportStream(context.Background(), bytes.NewReader(raw), f.opts())
		if !errors.Is(err, errdef.ErrInvalidKit) {
			t.Errorf("%s: err = %v, want ErrInvalidKit", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "copy the kit file again, and if the error persists") {
			t.Errorf("%s: message gives no next step: %v", name, err)
		}
	}
}
