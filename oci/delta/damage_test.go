package delta

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"stella-ops.org/ouk/internal/errdef"
)

// writeIndexOnlyKit writes a kit file with an oci-layout file and the
// given index.json, and nothing else.
func writeIndexOnlyKit(t *testing.T, indexJSON string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kit.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct{ name, data string }{
		{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`},
		{"index.json", indexJSON},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPeekDamagedIndexJSON(t *testing.T) {
	bundle := digest.FromString("bundle")
	cases := map[string]string{
		"flipped media type": `{"schemaVersion":2,"manifests":[{"mediaType":"` + "`" +
			`pplication/vnd.oci.image.index.v1+json","digest":"` + bundle.String() + `","size":10}]}`,
		"invalid JSON":   `{"schemaVersion":2,#"manifests":[]}`,
		"schema version": `{"schemaVersion":0,"manifests":[]}`,
	}
	for name, index := range cases {
		_, err := Peek(context.Background(), writeIndexOnlyKit(t, index))
		if !errors.Is(err, errdef.ErrInvalidKit) {
			t.Errorf("%s: err = %v, want ErrInvalidKit", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "copy the kit file again, and if the error persists") {
			t.Errorf("%s: message gives no next step: %v", name, err)
		}
	}
}
