package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci/delta"
)

// corruptSource serves the blobs of a kit, and fails the read of one blob
// at its end as a layout folder does whose copy of that blob is damaged.
type corruptSource struct {
	content.ReadOnlyStorage
	bad ocispec.Descriptor
}

func (c corruptSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyStorage.Fetch(ctx, d)
	if err != nil || d.Digest != c.bad.Digest {
		return rc, err
	}
	return failAtEnd{rc, d}, nil
}

type failAtEnd struct {
	io.ReadCloser
	d ocispec.Descriptor
}

func (f failAtEnd) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if err == io.EOF {
		err = fmt.Errorf("blob %s does not match its descriptor: %w", f.d.Digest, errdef.ErrDigestMismatch)
	}
	return n, err
}

func TestPushCorruptBlobNamesBlob(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	k, err := delta.OpenKit(context.Background(), kit)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	// The largest blob is a layer, which goes up in its own upload.
	bad := largestBlob(t, kit)

	host := memRegistry(t, true)
	repo := repository(t, plainClient(t, host), host+"/ouk:1")
	_, err = PushKit(context.Background(), corruptSource{k.Storage, bad}, k.Index, repo, "1", PushOptions{})
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("push of a kit with a damaged blob: %v, want ErrDigestMismatch", err)
	}

	msg := err.Error()
	if !strings.Contains(msg, "blob "+bad.Digest.String()+" does not match its descriptor") {
		t.Errorf("message does not name the damaged blob: %s", msg)
	}
	if strings.Contains(msg, "/blobs/uploads/") || strings.Contains(msg, "?") {
		t.Errorf("message quotes the registry's upload address: %s", msg)
	}
}

func TestTidyUploadErrorCutsQuery(t *testing.T) {
	cause := errors.New("connection reset by peer")
	err := fmt.Errorf("pushing: %w", &url.Error{Op: "Put", URL: "http://127.0.0.1:5000/v2/a/blobs/uploads/1?_state=abc&digest=sha256:00", Err: cause})
	got := tidyUploadError(err)
	if !errors.Is(got, cause) || strings.Contains(got.Error(), "_state") ||
		!strings.Contains(got.Error(), "/v2/a/blobs/uploads/1") {
		t.Errorf("tidied error %q", got)
	}
}
