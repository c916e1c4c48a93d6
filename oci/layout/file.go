package layout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// WriteTarFile writes the layout as WriteTar does into the file out and
// returns the file's size. It writes a temporary file beside out, syncs it
// and renames it into place, so a failure never leaves a partial file under
// out.
func WriteTarFile(ctx context.Context, out string, index ocispec.Index, src content.ReadOnlyStorage, opts TarOptions) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return 0, fmt.Errorf("creating %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())

	if err := WriteTar(ctx, tmp, index, src, opts); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	info, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}

	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("moving %s into place: %w", out, err)
	}
	return info.Size(), nil
}
