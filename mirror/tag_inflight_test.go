package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// An interrupt while a slow registry or a proxy delays the tag PUT leaves
// the request to be applied later, so the error must not claim
// that the tag stayed.
func TestPushInterruptedDuringTagPut(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar", "1.0.0", 1, "")
	kit2 := f.buildKit("kit2.tar", "2.0.0", 2, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var delayTag atomic.Bool
	release := make(chan struct{})
	applied := make(chan struct{})
	host := wrappedRegistry(t, false, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !delayTag.Load() || r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/manifests/latest") {
				next.ServeHTTP(w, r)
				return
			}
			// Read the whole body first, then cancel, as Ctrl-C does, and
			// apply the request only after stella has read the tag back.
			// The request then no longer depends on the client's connection,
			// which the cancel closes.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("reading the delayed tag request: %v", err)
			}
			cancel()
			<-release
			delayed := r.Clone(context.WithoutCancel(r.Context()))
			delayed.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, delayed)
			close(applied)
		})
	})
	c := plainClient(t, host)
	ref := host + "/ouk:latest"
	first := pushFile(t, c, kit1, ref)

	delayTag.Store(true)
	repo := repository(t, c, ref)
	open := func() (io.ReadCloser, error) { return os.Open(kit2) }
	_, err := PushKitStream(ctx, open, repo, "latest", PushOptions{})
	close(release)
	<-applied
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted push: %v, want context.Canceled", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "was not moved") {
		t.Errorf("error claims the tag was not moved, though its request was in flight:\n%s", msg)
	}
	if !strings.Contains(msg, "still named "+first.Digest) {
		t.Errorf("error does not state what the tag named when read back:\n%s", msg)
	}
	if !strings.Contains(msg, "may still move it") {
		t.Errorf("error does not state that the registry may still move the tag:\n%s", msg)
	}
	if !strings.Contains(msg, "`crane digest --insecure "+ref+"`") {
		t.Errorf("error does not give the crane command for %s:\n%s", ref, msg)
	}
	desc, err := repo.Resolve(context.Background(), "latest")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() == first.Digest {
		t.Errorf("the delayed request did not move the tag, so this test shows nothing")
	}
}
