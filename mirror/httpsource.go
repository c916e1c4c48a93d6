package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"stella-ops.org/ouk/internal/errdef"
)

// ErrChanged is returned when a file changed on the web server while it was
// being downloaded, so the parts read so far do not belong together.
var ErrChanged = errors.New("remote file changed during download")

// HTTPReader reads a file from a web server and, when the connection breaks
// or the server responds with 408, 429 or 5xx, continues where it stopped with a
// Range request. If-Range carries the ETag (or Last-Modified) of the first
// response, so a file replaced in between is detected instead of spliced.
// A server that ignores Range sends the whole file again, and the reader
// drops the bytes it has already returned once they match what it read.
type HTTPReader struct {
	ctx    context.Context
	client *http.Client
	url    string
	log    *slog.Logger

	body io.ReadCloser
	off  int64
	size int64 // -1 when unknown
	// validator is the If-Range value, and validatorHeader the response
	// header it came from: ETag or Last-Modified.
	validator       string
	validatorHeader string
	// readHash is a CRC-32C of the off bytes returned so far. It is used
	// only to detect a server that ignored Range and sent different
	// leading bytes. The kit's digests still verify every blob, so a cheap
	// checksum is enough.
	readHash hash.Hash
	resumes  int
	// sinceProgress counts the requests sent since a response last
	// delivered a byte.
	sinceProgress int
	// rangeIgnored is whether the latest response to a Range request was
	// the whole file.
	rangeIgnored bool
	// Resumes counts the Range requests made after a failure.
	Resumes int
}

// TransferError is returned when a download gives up because the
// connection broke at the same byte on every attempt. It wraps
// errdef.ErrTransferFailed but not the io.ErrUnexpectedEOF of the last cut,
// because the file on the server is not known to be truncated: the
// transfer failed.
type TransferError struct {
	URL string
	// Offset is the byte that no attempt got past.
	Offset int64
	// Attempts is the number of requests in a row that stopped at Offset,
	// the one that reached it included.
	Attempts int
	// RangeIgnored is whether the server sent the whole file in response
	// to the Range requests, so that no attempt could get further.
	RangeIgnored bool
	// Cause is the error of the last attempt.
	Cause error
}

func (e *TransferError) Error() string {
	var reason string
	if e.RangeIgnored {
		reason = "the server ignores Range requests and sends the file from the start each time, " +
			"so every attempt breaks off at the same byte"
	} else {
		reason = "the server sent no further byte in response to the Range requests"
	}
	return fmt.Sprintf("downloading %s failed: the last %d requests got no further than byte %d, and none of the %d retries "+
		"made progress, because %s (last error: %v); run the import again, serve the file from a server that "+
		"supports Range requests, or copy the file to this host and import it from there",
		e.URL, e.Attempts, e.Offset, e.Attempts-1, reason, e.Cause)
}

func (e *TransferError) Unwrap() error { return errdef.ErrTransferFailed }

// OpenHTTP starts downloading url with client. The returned reader resumes
// after failures, up to Attempts times in a row without progress.
func OpenHTTP(ctx context.Context, client *http.Client, url string, log *slog.Logger) (*HTTPReader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &HTTPReader{ctx: ctx, client: client, url: url, log: log, size: -1, readHash: crc32.New(castagnoli)}
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
	// Offsets count the bytes of the file as stored. Without this header,
	// net/http requests gzip when there is no Range header and decompresses
	// a response with Content-Encoding: gzip, which an S3-compatible store
	// sends for an object stored with that Content-Encoding. A Range
	// request at the decompressed offset would then get stored bytes from
	// another position.
	req.Header.Set("Accept-Encoding", "identity")
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
		if r.validator != "" {
			req.Header.Set("If-Range", r.validator)
		}
	}
	r.sinceProgress++
	r.rangeIgnored = false
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusOK && r.off == 0:
		r.size = resp.ContentLength
		r.validatorHeader, r.validator = validatorOf(resp)
	case resp.StatusCode == http.StatusPartialContent && r.off > 0:
		if err := checkContentRange(resp.Header.Get("Content-Range"), r.off); err != nil {
			resp.Body.Close()
			return fmt.Errorf("%w; the server or a proxy in between responds to Range requests incorrectly, so run the import "+
				"again to start over, or serve the file from a server that supports Range requests", err)
		}
	case resp.StatusCode == http.StatusOK:
		if err := r.skipReadBytes(resp); err != nil {
			resp.Body.Close()
			return err
		}
	default:
		resp.Body.Close()
		return newStatusError(r.url, resp)
	}
	r.body = resp.Body
	return nil
}

// castagnoli is the CRC-32C table, which most CPUs compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// StatusError is an HTTP response status other than 200 or 206.
type StatusError struct {
	URL    string
	Code   int
	Status string
	// Scheme and Host are the scheme and host[:port] that sent the status,
	// which differ from those of URL after a redirect.
	Scheme, Host string
	// Challenges lists the authentication schemes that the
	// WWW-Authenticate headers of a 401 response name, such as "Basic".
	Challenges []string
	// User is the user name whose credentials the request carried, or ""
	// when it carried none.
	User string
}

// newStatusError describes resp, the response to a download of rawURL.
func newStatusError(rawURL string, resp *http.Response) *StatusError {
	e := &StatusError{URL: RedactURL(rawURL), Code: resp.StatusCode, Status: resp.Status}
	if resp.Request != nil {
		e.Scheme, e.Host = resp.Request.URL.Scheme, resp.Request.URL.Host
		e.User, _, _ = resp.Request.BasicAuth()
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Challenges = challengeSchemes(resp.Header)
	}
	return e
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: server responded %s", e.URL, e.Status)
	if e.Code == http.StatusNotFound || e.Code == http.StatusGone {
		msg += "; check the URL, whose path and file name most servers match case-sensitively. The server must " +
			"send the kit file itself at that URL with 200 OK to a plain GET, and should answer Range requests " +
			"and send an ETag or Last-Modified header, so that a broken download resumes. " +
			"Or copy the file to this host and import it from there"
	}
	return msg
}

// Read reads from the body and resumes with a Range request after a cut.
func (r *HTTPReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		r.readHash.Write(p[:n])
		if n > 0 {
			r.resumes = 0
			r.sinceProgress = 0
		}
		if err == nil || (err == io.EOF && (r.size < 0 || r.off >= r.size)) {
			return n, err
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if r.ctx.Err() != nil || !isTransient(err) {
			return n, err
		}
		if r.resumes >= Attempts {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return n, r.transferError(err)
			}
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
			if r.ctx.Err() == nil && errors.Is(rerr, io.ErrUnexpectedEOF) {
				return n, r.transferError(rerr)
			}
			return n, fmt.Errorf("resuming download of %s at byte %d: %w", RedactURL(r.url), r.off, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// transferError returns the error of a download that stops because the
// connection was cut, with err, on the last of Attempts tries in a row.
// Passing on err's io.ErrUnexpectedEOF would make the caller take the
// file for a truncated one.
func (r *HTTPReader) transferError(err error) error {
	return &TransferError{URL: RedactURL(r.url), Offset: r.off, Attempts: r.sinceProgress + 1,
		RangeIgnored: r.rangeIgnored, Cause: err}
}

// Close closes the current response body.
func (r *HTTPReader) Close() error {
	if r.body == nil {
		return nil
	}
	return r.body.Close()
}

// skipReadBytes handles a 200 response to a resuming Range request. A
// server that supports Range sends 200 only when If-Range failed, so a
// changed ETag or Last-Modified means the file changed. Otherwise the server
// ignored the Range header and sent the whole file: its first r.off bytes
// are read again and dropped, after checking that their checksum matches what Read
// has already returned, so the stream continues with the same file.
func (r *HTTPReader) skipReadBytes(resp *http.Response) error {
	if r.validator != "" {
		header, validator := validatorOf(resp)
		if validator != r.validator {
			return fmt.Errorf("%w: the download started with %s %s, and the server now sends %s; "+
				"run the import again to start over", ErrChanged, r.validatorHeader, r.validator, describeValidator(header, validator))
		}
	}
	if r.size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != r.size {
		return fmt.Errorf("%w: the file was %d bytes when the download started and is now %d bytes; "+
			"run the import again to start over", ErrChanged, r.size, resp.ContentLength)
	}
	r.rangeIgnored = true
	r.log.Warn("server ignored the Range request and sent the whole file; reading it again from the start "+
		"and dropping the bytes already read", "url", RedactURL(r.url), "offset", r.off)
	again := crc32.New(castagnoli)
	n, err := io.CopyN(again, resp.Body, r.off)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the server's copy of the file ends at byte %d, before the %d bytes already read; "+
			"run the import again to start over", ErrChanged, n, r.off)
	}
	if err != nil {
		// A cut here is retried like any other: the next request
		// starts over from the same offset.
		return fmt.Errorf("reading the first %d bytes again, after the server ignored the Range request: %w; "+
			"run the import again, or serve the file from a server that supports Range requests", r.off, err)
	}
	if !bytes.Equal(again.Sum(nil), r.readHash.Sum(nil)) {
		return fmt.Errorf("%w: the server ignored the Range request and sent the whole file, "+
			"but its first %d bytes differ from those already read; run the import again to start over", ErrChanged, r.off)
	}
	return nil
}

// validatorOf returns the strong ETag of resp, else its Last-Modified when
// that is more than a second in the past, as If-Range requires, with the
// name of the header it came from. It returns two empty strings when
// neither can be used.
func validatorOf(resp *http.Response) (header, value string) {
	if etag := resp.Header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return "ETag", etag
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil && time.Since(t) > time.Second {
			return "Last-Modified", lm
		}
	}
	return "", ""
}

// describeValidator formats the validator of a response for an error message.
func describeValidator(header, value string) string {
	if header == "" {
		return "no strong ETag and no Last-Modified older than a second"
	}
	return header + " " + value
}

// checkContentRange checks that a 206 response starts at off.
func checkContentRange(v string, off int64) error {
	rest, ok := strings.CutPrefix(v, "bytes ")
	start, _, _ := strings.Cut(rest, "-")
	if n, err := strconv.ParseInt(start, 10, 64); !ok || err != nil || n != off {
		return fmt.Errorf("the server responded to the request for bytes %d- with Content-Range %q, "+
			"which does not start at byte %d", off, v, off)
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
