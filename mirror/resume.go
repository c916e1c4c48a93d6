package mirror

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// resumingStorage wraps a registry so that a blob read cut short is
// continued from where it stopped instead of failing the import, and counts
// the bytes read.
type resumingStorage struct {
	inner content.ReadOnlyStorage
	log   *slog.Logger
	bytes atomic.Int64
}

func (s *resumingStorage) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	return s.inner.Exists(ctx, d)
}

func (s *resumingStorage) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := withRetry(ctx, s.log, "fetch "+d.Digest.String(), func(int) error {
		var err error
		rc, err = s.inner.Fetch(ctx, d)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resumingReader{ctx: ctx, s: s, desc: d, rc: rc}, nil
}

// resumingReader reads one blob, fetching it again after a transient
// failure and skipping the bytes already delivered. A registry that
// supports range requests lets oras-go seek, so the skip costs no transfer.
type resumingReader struct {
	ctx     context.Context
	s       *resumingStorage
	desc    ocispec.Descriptor
	rc      io.ReadCloser
	off     int64
	retries int
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := r.rc.Read(p)
		r.off += int64(n)
		r.s.bytes.Add(int64(n))
		if err == nil || (err == io.EOF && r.off >= r.desc.Size) {
			return n, err
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if !isTransient(err) || r.retries >= Attempts {
			return n, err
		}
		r.retries++
		r.s.log.Info("resuming blob after a cut transfer", "digest", r.desc.Digest, "offset", r.off, "error", err)
		if rerr := r.reopen(); rerr != nil {
			return n, fmt.Errorf("resuming blob %s at byte %d: %w", r.desc.Digest, r.off, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// reopen fetches the blob again and moves to the current offset.
func (r *resumingReader) reopen() error {
	r.rc.Close()
	return withRetry(r.ctx, r.s.log, "refetch "+r.desc.Digest.String(), func(int) error {
		rc, err := r.s.inner.Fetch(r.ctx, r.desc)
		if err != nil {
			return err
		}
		if sk, ok := rc.(io.Seeker); ok {
			if _, err := sk.Seek(r.off, io.SeekStart); err != nil {
				rc.Close()
				return err
			}
		} else if _, err := io.CopyN(io.Discard, rc, r.off); err != nil {
			rc.Close()
			return err
		}
		r.rc = rc
		return nil
	})
}

func (r *resumingReader) Close() error { return r.rc.Close() }
