package mirror

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// requestCounter is a registry that responds to every request with one
// status and counts the requests by method and path.
type requestCounter struct {
	status int
	mu     sync.Mutex
	counts map[string]int
}

func (c *requestCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.counts[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(c.status)
	fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"storage back end down"}]}`)
}

// total returns the number of requests and a listing of them by method
// and path for failure messages.
func (c *requestCounter) total() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	var lines []string
	for req, count := range c.counts {
		n += count
		lines = append(lines, fmt.Sprintf("%d × %s", count, req))
	}
	sort.Strings(lines)
	return n, strings.Join(lines, "\n")
}

// failingRegistry starts a registry on loopback that responds with status
// to every request and returns its counter and host:port.
func failingRegistry(t *testing.T, status int) (*requestCounter, string) {
	t.Helper()
	counter := &requestCounter{status: status, counts: map[string]int{}}
	srv := httptest.NewServer(counter)
	t.Cleanup(srv.Close)
	return counter, strings.TrimPrefix(srv.URL, "http://")
}

// kitBundle returns the storage, index.json and bundle index of a kit file.
func kitBundle(t *testing.T, kit string) (content.ReadOnlyStorage, ocispec.Index, ocispec.Index) {
	t.Helper()
	k, err := delta.OpenKit(context.Background(), kit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	raw, err := content.FetchAll(context.Background(), k.Storage, k.Index.Manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := oci.ParseBundleIndex(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k.Storage, k.Index, idx
}

// A registry that responds with a server error to every request gets each
// request once from stella and six times more from the retries of the
// transport (fastPolicy allows six, as DefaultRetryPolicy does). An
// operation that stops on such an error must not run those retries again.
func TestServerErrorRequestCounts(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	kitStorage, kitIndex, bundle := kitBundle(t, kit)

	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprintf("push file %d", status), func(t *testing.T) {
			counter, host := failingRegistry(t, status)
			repo := repository(t, fastRetryClient(t, host), host+"/ouk:1")
			open := func() (io.ReadCloser, error) { return os.Open(kit) }
			_, err := PushKitStream(testContext(t), open, repo, "1", PushOptions{})
			if err == nil {
				t.Fatal("push of a kit file to a failing registry succeeded")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("response status code %d", status)) {
				t.Errorf("push error lacks the status %d: %v", status, err)
			}
			if want := "tag " + host + "/ouk:1 was left as it was"; !strings.Contains(err.Error(), want) {
				t.Errorf("push error lacks %q: %v", want, err)
			}
			// The push checks the first blob, then reads the tag back once,
			// without retries, for the error message.
			n, listing := counter.total()
			if n != 8 {
				t.Errorf("registry got %d requests, want 8 (7 for the blob check, 1 for reading the tag back):\n%s",
					n, listing)
			}
		})
		t.Run(fmt.Sprintf("push folder %d", status), func(t *testing.T) {
			counter, host := failingRegistry(t, status)
			repo := repository(t, fastRetryClient(t, host), host+"/ouk:1")
			_, err := PushKit(testContext(t), kitStorage, kitIndex, repo, "1", PushOptions{})
			if err == nil {
				t.Fatal("push to a failing registry succeeded")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("response status code %d", status)) {
				t.Errorf("push error lacks the status %d: %v", status, err)
			}
			n, listing := counter.total()
			if n != 7 {
				t.Errorf("registry got %d requests, want 7 for the tag lookup:\n%s", n, listing)
			}
		})
		t.Run(fmt.Sprintf("import %d", status), func(t *testing.T) {
			counter, host := failingRegistry(t, status)
			repo := repository(t, fastRetryClient(t, host), host+"/ouk:1")
			_, err := OpenKit(testContext(t), repo, "1", nil)
			if err == nil {
				t.Fatal("opening a kit in a failing registry succeeded")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("response status code %d", status)) {
				t.Errorf("import error lacks the status %d: %v", status, err)
			}
			n, listing := counter.total()
			if n != 7 {
				t.Errorf("registry got %d requests, want 7 for the tag lookup:\n%s", n, listing)
			}
		})
		t.Run(fmt.Sprintf("mirror %d", status), func(t *testing.T) {
			counter, host := failingRegistry(t, status)
			c := fastRetryClient(t, host)
			_, err := MirrorImages(testContext(t), kitStorage, bundle, host+"/site",
				MirrorOptions{Repository: c.Repository})
			if err == nil {
				t.Fatal("mirror to a failing registry succeeded")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("response status code %d", status)) {
				t.Errorf("mirror error lacks the status %d: %v", status, err)
			}
			n, listing := counter.total()
			if n != 7 {
				t.Errorf("registry got %d requests, want 7 for the tag lookup:\n%s", n, listing)
			}
		})
	}
}

// failUploadProxy forwards requests to the registry at backend, but
// responds 500 to each upload of the blob d, which it counts.
func failUploadProxy(t *testing.T, backend string, d digest.Digest) (*atomic.Int32, string) {
	t.Helper()
	target, err := url.Parse("http://" + backend)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	// The push cancels the uploads running beside a failed one.
	forward.ErrorLog = log.New(io.Discard, "", 0)
	var uploads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Query().Get("digest") != d.String() {
			forward.ServeHTTP(w, r)
			return
		}
		uploads.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"errors":[{"code":"UNKNOWN","message":"storage back end down"}]}`)
	}))
	t.Cleanup(srv.Close)
	return &uploads, strings.TrimPrefix(srv.URL, "http://")
}

// An upload whose body is a stream cannot be sent again by the transport,
// so the push runs it again, up to Attempts times. An upload from memory
// is sent again by the transport alone.
func TestUploadServerErrorRetries(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	layer := largestBlob(t, kit)
	if layer.Size > maxManifestSize {
		t.Fatalf("largest blob has %d bytes, want at most %d so that a push of the kit file sends it from memory",
			layer.Size, maxManifestSize)
	}
	status := fmt.Sprintf("response status code %d", http.StatusInternalServerError)

	t.Run("stream body", func(t *testing.T) {
		k, err := delta.OpenKit(context.Background(), kit)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		uploads, host := failUploadProxy(t, memRegistry(t, true), layer.Digest)
		repo := repository(t, fastRetryClient(t, host), host+"/ouk:1")
		_, err = PushKit(testContext(t), k.Storage, k.Index, repo, "1", PushOptions{})
		if err == nil {
			t.Fatal("push succeeded although every upload of the layer failed")
		}
		if !strings.Contains(err.Error(), status) {
			t.Errorf("push error lacks %q: %v", status, err)
		}
		if n := uploads.Load(); n != Attempts {
			t.Errorf("registry got %d uploads of the layer, want %d, one for each attempt of the push", n, Attempts)
		}
	})
	t.Run("memory body", func(t *testing.T) {
		uploads, host := failUploadProxy(t, memRegistry(t, true), layer.Digest)
		repo := repository(t, fastRetryClient(t, host), host+"/ouk:1")
		open := func() (io.ReadCloser, error) { return os.Open(kit) }
		_, err := PushKitStream(testContext(t), open, repo, "1", PushOptions{})
		if err == nil {
			t.Fatal("push succeeded although every upload of the layer failed")
		}
		if !strings.Contains(err.Error(), status) {
			t.Errorf("push error lacks %q: %v", status, err)
		}
		if n := uploads.Load(); n != 7 {
			t.Errorf("registry got %d uploads of the layer, want 7 (one request and the transport's 6 retries)", n)
		}
	})
}

// failTagProxy forwards requests to the registry at backend, but responds
// 500 to each request that sets the tag 1 of repository ouk, and, once
// one has come, to each request that reads the tag. It counts the reads
// that come after the first request that sets the tag.
func failTagProxy(t *testing.T, backend string) (*atomic.Int32, string) {
	t.Helper()
	target, err := url.Parse("http://" + backend)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	var tagSet atomic.Bool
	var readBacks atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isTag := r.URL.Path == "/v2/ouk/manifests/1"
		switch {
		case isTag && r.Method == http.MethodPut:
			tagSet.Store(true)
			io.Copy(io.Discard, r.Body)
		case isTag && tagSet.Load():
			readBacks.Add(1)
		default:
			forward.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"errors":[{"code":"UNKNOWN","message":"storage back end down"}]}`)
	}))
	t.Cleanup(srv.Close)
	return &readBacks, strings.TrimPrefix(srv.URL, "http://")
}

// After the request that sets the tag fails, the push reads the tag back
// once, without retries, and reports that the tag's state is unknown when
// the read-back fails too.
func TestTagReadBackSentOnce(t *testing.T) {
	f := newFixture(t)
	kit := f.buildKit("kit1.tar", "1.0.0", 1, "")
	kitStorage, kitIndex, _ := kitBundle(t, kit)
	readBacks, host := failTagProxy(t, memRegistry(t, true))
	repo := repository(t, fastRetryClient(t, host), host+"/ouk:1")
	_, err := PushKit(testContext(t), kitStorage, kitIndex, repo, "1", PushOptions{})
	if err == nil {
		t.Fatal("push succeeded although setting the tag failed")
	}
	if want := "whether tag " + host + "/ouk:1 moved is unknown"; !strings.Contains(err.Error(), want) {
		t.Errorf("push error lacks %q: %v", want, err)
	}
	if want := "crane digest --insecure " + host + "/ouk:1"; !strings.Contains(err.Error(), want) {
		t.Errorf("push error lacks the advice %q: %v", want, err)
	}
	if n := readBacks.Load(); n != 1 {
		t.Errorf("registry got %d reads of the tag after setting it failed, want 1", n)
	}
}
