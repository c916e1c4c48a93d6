package mirror

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// A kit file's blobs go up before the tag is looked up, so a failure then
// reads the tag back to name what it still names.
func TestPushBlobFailureNamesTag(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar", "1.0.0", 1, "")
	kit2 := f.buildKit("kit2.tar", "2.0.0", 2, "")
	var denyUploads atomic.Bool
	host := wrappedRegistry(t, false, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if denyUploads.Load() && strings.Contains(r.URL.Path, "/blobs/uploads") {
				denied(w)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c := plainClient(t, host)
	first := pushFile(t, c, kit1, host+"/ouk:latest")

	denyUploads.Store(true)
	open := func() (io.ReadCloser, error) { return os.Open(kit2) }
	for _, tc := range []struct{ ref, want string }{
		{host + "/ouk:latest", "tag " + host + "/ouk:latest was not moved and still names " + first.Digest},
		{host + "/fresh:latest", "tag " + host + "/fresh:latest does not exist and was not created"},
	} {
		repo := repository(t, c, tc.ref)
		_, err := PushKitStream(context.Background(), open, repo, "latest", PushOptions{})
		var state *TagStateError
		if !errors.As(err, &state) {
			t.Fatalf("push to %s with denied uploads: %v, want a TagStateError", tc.ref, err)
		}
		if !strings.Contains(state.State, tc.want) {
			t.Errorf("push to %s: state %q, want %q", tc.ref, state.State, tc.want)
		}
	}
}

// An interrupt or failure during the first lookup of the tag comes before
// any request that sets it, and the error states that the tag was not moved.
func TestTagLookupFailureNamesTag(t *testing.T) {
	host := wrappedRegistry(t, false, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/latest") {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	repo := repository(t, plainClient(t, host), host+"/ouk:latest")
	_, err := resolveTag(context.Background(), repo, slog.New(slog.DiscardHandler), "latest")
	var state *TagStateError
	if !errors.As(err, &state) {
		t.Fatalf("resolveTag with a denied HEAD: %v, want a TagStateError", err)
	}
	if want := "tag " + host + "/ouk:latest was left as it was"; !strings.Contains(state.State, want) {
		t.Errorf("state %q, want %q", state.State, want)
	}
}
