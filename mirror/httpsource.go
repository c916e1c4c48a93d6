package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrChanged is returned when a file changed on the web server while it was
// being downloaded, so the parts read so far do not belong together.
var ErrChanged = errors.New("remote file changed during download")

// HTTPReader reads a file from a web server and, when the connection breaks
// or the server responds with 408, 429 or 5xx, continues where it stopped with a
// Range request. If-Range carries the ETag (or Last-Modified) of the first
// response, so a file replaced in between is detected instead of spliced.
type HTTPReader struct {
	ctx    context.Context
	client *http.Client
	url    string
	log    *slog.Logger

	body      io.ReadCloser
	off       int64
	size      int64 // -1 when unknown
	validator string
	resumes   int
	// Resumes counts the Range requests made after a failure.
	Resumes int
}

// OpenHTTP starts downloading url with client. The returned reader resumes
// after failures, up to Attempts times in a row without progress.
func OpenHTTP(ctx context.Context, client *http.Client, url string, log *slog.Logger) (*HTTPReader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &HTTPReader{ctx: ctx, client: client, url: url, log: log, size: -1}
	if err := withRetry(ctx, log, "GET "+RedactURL(url), func(int) error { return r.request() }); err != nil {
		return nil, err
	}
	return r, nil
}

// Size returns the length of the file, or -1 when the response had no Content-Length.
func (r *HTTPReader) Size() int64 { return r.size }

// Offset returns how many bytes have been read.
func (r *HTTPReader) Offset() int64 { return r.off }

// request sends a GET from the current offset and checks the response.
func (r *HTTPReader) request() error {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("kit URL %s: %w", RedactURL(r.url), err)
	}
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
		if r.validator != "" {
			req.Header.Set("If-Range", r.validator)
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusOK && r.off == 0:
		r.size = resp.ContentLength
		r.validator = validatorOf(resp)
	case resp.StatusCode == http.StatusPartialContent && r.off > 0:
		if err := checkContentRange(resp.Header.Get("Content-Range"), r.off); err != nil {
			resp.Body.Close()
			return err
		}
	case resp.StatusCode == http.StatusOK:
		// The server ignored Range, or If-Range failed because the file changed.
		resp.Body.Close()
		if r.validator != "" && validatorOf(resp) != r.validator {
			return fmt.Errorf("%s: %w; run the import again to start over", RedactURL(r.url), ErrChanged)
		}
		return fmt.Errorf("%s: the server does not support range requests, so the download cannot resume at byte %d; "+
			"run the import again or use a server with range support: %w", RedactURL(r.url), r.off, ErrChanged)
	default:
		resp.Body.Close()
		return &StatusError{URL: RedactURL(r.url), Code: resp.StatusCode, Status: resp.Status}
	}
	r.body = resp.Body
	return nil
}

// StatusError is an HTTP response status other than 200 or 206.
type StatusError struct {
	URL    string
	Code   int
	Status string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: server responded %s", e.URL, e.Status)
}

// Temporary reports whether the status is worth another attempt.
func (e *StatusError) Temporary() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// Read reads from the body and resumes with a Range request after a cut.
func (r *HTTPReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.resumes = 0
		}
		if err == nil || (err == io.EOF && (r.size < 0 || r.off >= r.size)) {
			return n, err
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if r.ctx.Err() != nil || !isTransient(err) || r.resumes >= Attempts {
			return n, err
		}
		r.resumes++
		r.Resumes++
		r.body.Close()
		attrs := []any{"url", RedactURL(r.url), "offset", r.off, "error", err}
		r.log.Info("resuming download", append(attrs, timeoutAttrs(err)...)...)
		rerr := withRetry(r.ctx, r.log, "GET "+RedactURL(r.url), func(int) error { return r.request() })
		if rerr != nil {
			r.body = io.NopCloser(strings.NewReader(""))
			return n, fmt.Errorf("resuming download of %s at byte %d: %w", RedactURL(r.url), r.off, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Close closes the current response body.
func (r *HTTPReader) Close() error {
	if r.body == nil {
		return nil
	}
	return r.body.Close()
}

// validatorOf returns the strong ETag of resp, else its Last-Modified when
// that is more than a second in the past, as If-Range requires.
func validatorOf(resp *http.Response) string {
	if etag := resp.Header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil && time.Since(t) > time.Second {
			return lm
		}
	}
	return ""
}

// checkContentRange checks that a 206 answer starts at off.
func checkContentRange(v string, off int64) error {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return fmt.Errorf("range response has Content-Range %q, expected bytes %d-", v, off)
	}
	start, _, _ := strings.Cut(rest, "-")
	if n, err := strconv.ParseInt(start, 10, 64); err != nil || n != off {
		return fmt.Errorf("range response starts at byte %q, expected %d", start, off)
	}
	return nil
}

// RedactURL drops a user and password from a URL before it is logged or
// printed.
func RedactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	host := rest
	if hostEnd >= 0 {
		host = rest[:hostEnd]
	}
	if at := strings.LastIndex(host, "@"); at >= 0 {
		return scheme + "://" + "xxxxx@" + rest[at+1:]
	}
	return u
}
