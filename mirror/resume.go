package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"stella-ops.org/ouk/internal/errdef"
)

// resumingStorage wraps a registry so that a blob read cut short is
// continued from where it stopped instead of failing the import, checks
// each small blob read to its end against its digest, and counts the bytes
// read.
type resumingStorage struct {
	inner content.ReadOnlyStorage
	log   *slog.Logger
	bytes atomic.Int64
}

func (s *resumingStorage) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	var exists bool
	err := withRetry(ctx, s.log, "check "+d.Digest.String(), func(int) error {
		var err error
		exists, err = s.inner.Exists(ctx, d)
		return err
	})
	return exists, err
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
	r := &resumingReader{ctx: ctx, s: s, desc: d, rc: rc}
	// Manifests and other small blobs are checked here, where a mismatch
	// can name the registry. The store checks every blob it writes, so
	// hashing large layers here too would only cost a second pass.
	if d.Size <= maxManifestSize && d.Digest.Validate() == nil {
		r.verifier = d.Digest.Verifier()
	}
	return r, nil
}

// resumingReader reads one blob, fetching it again after a transient
// failure and skipping the bytes already delivered. A registry that
// supports range requests lets oras-go seek, so the skip costs no transfer.
// At the end of the blob it returns an error wrapping
// errdef.ErrDigestMismatch in place of io.EOF when the bytes delivered do
// not match the digest.
type resumingReader struct {
	ctx     context.Context
	s       *resumingStorage
	desc    ocispec.Descriptor
	rc      io.ReadCloser
	off     int64
	retries int
	// verifier hashes the bytes delivered. It is nil for a blob over
	// maxManifestSize, which the store checks, and when the digest is
	// malformed, which the caller rejects itself.
	verifier digest.Verifier
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := r.rc.Read(p)
		r.off += int64(n)
		r.s.bytes.Add(int64(n))
		if r.verifier != nil {
			r.verifier.Write(p[:n])
		}
		if err == io.EOF && r.off >= r.desc.Size {
			return n, r.verify()
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if !isTransient(err) || r.retries >= Attempts {
			return n, err
		}
		r.retries++
		attrs := []any{"digest", r.desc.Digest, "offset", r.off, "error", err}
		r.s.log.Info("resuming blob after a cut transfer", append(attrs, timeoutAttrs(err)...)...)
		if rerr := r.reopen(); rerr != nil {
			if errors.Is(rerr, errdef.ErrNotFound) {
				return n, fmt.Errorf("resuming blob %s at byte %d: the blob is not found in the registry any more, "+
					"though the registry served its first bytes, as after a restart with empty storage or a garbage "+
					"collection there; push the kit to the registry again, then run the import again: %w",
					r.desc.Digest, r.off, rerr)
			}
			return n, fmt.Errorf("resuming blob %s at byte %d: %w", r.desc.Digest, r.off, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// verify returns io.EOF when the blob delivered matches its digest, and an
// error wrapping errdef.ErrDigestMismatch when it does not.
func (r *resumingReader) verify() error {
	if r.verifier == nil || (r.off == r.desc.Size && r.verifier.Verified()) {
		return io.EOF
	}
	return fmt.Errorf("blob %s from the registry does not match its digest (%d bytes read, %d expected); "+
		"the registry holds a damaged or altered copy%s: %w",
		r.desc.Digest, r.off, r.desc.Size, damagedCopyAdvice, errdef.ErrDigestMismatch)
}

// reopen fetches the blob again and moves to the current offset.
func (r *resumingReader) reopen() error {
	r.rc.Close()
	return withRetryWindow(r.ctx, r.s.log, "refetch "+r.desc.Digest.String(), resumeWindow, func(int) error {
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
