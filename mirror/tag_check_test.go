package mirror

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// When the read-back of a tag after a failed tag PUT meets server errors,
// the error gives the registry's status, not the deadline of the check.
func TestTagCheckReportsServerError(t *testing.T) {
	f := newFixture(t)
	kit1 := f.buildKit("kit1.tar", "1.0.0", 1, "")
	kit2 := f.buildKit("kit2.tar", "2.0.0", 2, "")
	var failing atomic.Bool
	var heads atomic.Int32
	host := wrappedRegistry(t, false, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tagRequest := strings.HasSuffix(r.URL.Path, "/manifests/latest")
			switch {
			case !failing.Load() || !tagRequest:
			case r.Method == http.MethodPut:
				denied(w)
				return
			case r.Method == http.MethodHead && heads.Add(1) > 1:
				// The first HEAD is the lookup before the push, which
				// must succeed; the rest are the read-back.
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c := plainClient(t, host)
	ref := host + "/ouk:latest"
	pushFile(t, c, kit1, ref)

	failing.Store(true)
	repo := repository(t, c, ref)
	open := func() (io.ReadCloser, error) { return os.Open(kit2) }
	_, err := PushKitStream(context.Background(), open, repo, "latest", PushOptions{})
	if err == nil {
		t.Fatal("push with a rejected tag succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "failed too (the registry responded 500 Internal Server Error)") {
		t.Errorf("error does not give the status of the read-back:\n%s", msg)
	}
	if strings.Contains(msg, "deadline exceeded") {
		t.Errorf("error gives the deadline of the read-back:\n%s", msg)
	}
	if !strings.Contains(msg, "`crane digest --insecure "+ref+"`") {
		t.Errorf("error does not give the crane command for %s:\n%s", ref, msg)
	}
}
