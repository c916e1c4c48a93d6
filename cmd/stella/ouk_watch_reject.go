package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/watch"
	"stella-ops.org/ouk/oci/delta"
	"stella-ops.org/ouk/oci/sign"
)

// incomplete handles a truncated kit file, a layout folder that failed to
// import, or, in a running watch, a kit file with damaged content. Each
// may still be being copied, so a running watch retries it next round
// until its fingerprint has not changed for the settle time. With --once
// it is rejected at once, except an empty file: that is the first moment
// of a copy, so --once waits for it to settle too. A rejected kit is
// retried once its fingerprint changes.
func (w *watcher) incomplete(ctx context.Context, c watch.Candidate, s *delta.Summary, active string, err error) outcome {
	age := time.Since(c.ModTime)
	settled := age >= w.opts.settle
	empty := !c.IsDir && c.Size == 0
	damaged := !c.IsDir && !empty && !errors.Is(err, io.ErrUnexpectedEOF)
	retry := !w.opts.once && !settled
	if empty {
		retry = !settled
	}

	if retry {
		msg := "kit is incomplete, perhaps still being copied; retrying next round"
		switch {
		case w.opts.once:
			msg = "kit file is empty, perhaps still being copied; skipped until a later run"
		case c.IsDir:
			msg = "kit folder failed to import but changed within --settle, perhaps still being copied; " +
				"retrying next round"
		case damaged:
			msg = "kit file failed to import but changed within --settle, perhaps still being copied by a " +
				"tool that sets the file's size first; retrying next round"
		}
		w.logOnce(ctx, c, slog.LevelInfo, msg,
			append(kitAttrs(c.Path, summaryVersion(s), summaryDigest(s)), "error", err)...)
		if c.Racy() {
			// A write in the same clock tick as the stat may have
			// completed the copy unseen, so the next round imports the
			// kit again even when its fingerprint stays the same.
			delete(w.waitingCopies, c.Path)
		} else {
			w.waitingCopies[c.Path] = waitingCopy{fingerprint: c.Fingerprint(), active: active, err: err}
		}
		return outcomeWaiting
	}
	delete(w.waitingCopies, c.Path)

	if damaged {
		// The file's damage is the reason, and it names the fix.
		w.reject(c, s, active, err)
		return outcomeRejected
	}
	if c.IsDir {
		reason := fmt.Errorf("%w; if the kit folder was still being copied, the watch tries it again "+
			"once its files change", err)
		if settled {
			reason = fmt.Errorf("no file in the kit folder has changed for %s: %w", age.Round(time.Second), err)
		}
		w.reject(c, s, active, reason)
		return outcomeRejected
	}

	state := "truncated"
	if empty {
		state = "empty"
	}
	// The import error may already give the advice, so it is added only once.
	advice := "; copy the kit file again"
	if strings.Contains(err.Error(), "copy the kit file again") {
		advice = ""
	}
	reason := fmt.Errorf("kit file is %s%s: %w", state, advice, err)
	if settled {
		reason = fmt.Errorf("kit file is %s and has not changed for %s%s: %w",
			state, age.Round(time.Second), advice, err)
	}
	w.reject(c, s, active, reason)
	return outcomeRejected
}

// reject leaves a kit in place with a rejection note beside it. When the
// note cannot be written, as in a read-only drop folder, this process keeps
// it in memory, and the log line gives the reason instead.
func (w *watcher) reject(c watch.Candidate, s *delta.Summary, active string, err error) {
	// Another key may verify a signed kit, but none helps a kit without
	// a signature. The override advice below drops the error's type.
	var sigErr *importer.SignatureError
	keysMayHelp := errors.Is(err, errdef.ErrSignature) && !(errors.As(err, &sigErr) && sigErr.Unsigned)
	err = w.withManualOverride(err, c.Path)
	note := watch.NoteFor(c)
	note.Reason, note.At = err.Error(), time.Now().UTC()
	note.Retry = retryAdvice(false, "delete this file")
	note.Active, note.RetryOnActiveChange = active, errors.Is(err, errdef.ErrBaseMissing)
	note.Conflict = errors.As(err, new(conflictError))
	if keysMayHelp {
		note.Keys = w.keySet
		note.Retry = retryAdvice(true, "delete this file")
	}
	if !note.Conflict {
		// The reason is what an operator reads first. A replaced file can
		// keep its fingerprint, as on systems where the watch reads no
		// inode or change time.
		note.Reason += ". " + noteReplacedAdvice
	}
	note.Version, note.Digest = summaryVersion(s), summaryDigest(s)
	note.Store, note.StoreID = w.store.Path, w.store.ID
	if s != nil {
		sequence := s.Sequence
		note.Sequence = &sequence
	}
	attrs := append(kitAttrs(c.Path, note.Version, note.Digest), "reason", err)
	if other, ok := watch.ReadNote(c.Path); ok && other.Foreign(w.store) {
		// The other store's watch still needs its note, and replacing it
		// would make that watch evaluate the kit again.
		w.unwrittenNotes[c.Path] = note
		attrs = append(attrs, "note", watch.NotePath(c.Path), "noteStore", other.Store)
		if other.StoreID != "" {
			// The other store may have the same path, on another host.
			attrs = append(attrs, "noteStoreId", other.StoreID, "storeId", w.store.ID)
		}
		w.log.Warn("kit rejected; left in place, but its rejection note belongs to the watch of another store, "+
			"given as noteStore=, so only this watch process remembers the rejection", attrs...)
		w.markLogged(c, msgRemainsRejected)
		return
	}
	if werr := watch.WriteNote(c.Path, note); werr != nil {
		// Only a restart of the watch, or a change of the kit, retries it.
		w.unwrittenNotes[c.Path] = note
		w.log.Warn("kit rejected; left in place, but writing its rejection note failed, "+
			"so only this watch process remembers the rejection", append(attrs, "noteError", werr)...)
	} else {
		delete(w.unwrittenNotes, c.Path)
		w.log.Warn("kit rejected; left in place", append(attrs, retryAttrs(c.Path, keysMayHelp)...)...)
	}
	// The rejection line names the kit, so a later round of this process
	// need not log that it remains rejected.
	w.markLogged(c, msgRemainsRejected)
}

// noteReplacedAdvice ends the reason of every rejection note but a
// conflict's, which every round checks again.
const noteReplacedAdvice = "The watch tries the kit again once its file changes. If you replace the file " +
	"and the watch still skips it, delete this note"

// retryAttrs returns the log attributes that name the rejection note of
// the kit at path and how to make the watch retry the kit. keysMayHelp is
// set for a kit whose signature no trusted key verified.
func retryAttrs(path string, keysMayHelp bool) []any {
	return []any{"note", watch.NotePath(path), "retry", retryAdvice(keysMayHelp, "delete the note")}
}

// retryAdvice returns how to make the watch try a rejected kit again,
// where deleteNote names the deletion of its note. For a kit whose
// signature no trusted key verified, a new trusted key does it too.
func retryAdvice(keysMayHelp bool, deleteNote string) string {
	if keysMayHelp {
		return "put the builder's public key, as a file named *.pub, into the store's keys folder (or pass it " +
			"with --key), and the next round tries the kit again; or " + deleteNote + " to make the watch " +
			"try the kit again"
	}
	return deleteNote + " to make the watch try the kit again"
}

// unreadable handles a kit that this host failed to read, such as for a
// denied permission or an I/O error. That is no fault of the kit, and a
// fix may change neither the kit's size nor its modification time. So the
// kit is not rejected. Like an import that finds the disk full, it is
// tried again next round, and a --once run exits with the error.
func (w *watcher) unreadable(ctx context.Context, c watch.Candidate, attrs []any, err error) outcome {
	w.logOnce(ctx, c, slog.LevelError, "kit cannot be read on this host; it is not rejected and is tried again "+
		"next round. Fix the permission or the file system error given as error= on this line", append(attrs, "error", err)...)
	w.lastDeferred = err
	return outcomeDeferred
}

// storeFailed handles an error of the store itself, such as an I/O error
// or a read-only remount of the store's volume, a damaged database, or a
// store that stopped writing after such an error. The kit is not at fault,
// so it is not rejected. Like a full disk, the failure is retried next
// round, and a --once run exits with the error. The round ends, because
// every later kit would fail on the same store.
func (w *watcher) storeFailed(c watch.Candidate, attrs []any, err error) outcome {
	// The folder given with --store, as the operator gave it. The error
	// names the database folder inside it.
	dir := w.storeDir
	var storeErr *cas.StoreError
	if dir == "" && errors.As(err, &storeErr) {
		dir = storeErr.Dir
	}
	w.lastDeferred = fmt.Errorf("store %s failed while processing %s: %w", dir, c.Path, err)
	if errors.Is(err, errdef.ErrStoreDamaged) {
		// run logs a damaged store once and ends the watch.
		return outcomeStoreFailed
	}
	w.storeFailures.failed(w.log, w.now(), "the store failed, not the kit; no kit is rejected for this, and "+
		"the round ends. Check the volume of the store folder given as store= for I/O errors, a read-only "+
		"remount or a full disk, and fix it; the next round tries the kit again", dir,
		append([]any{"store", dir}, append(attrs, "error", err)...)...)
	return outcomeStoreFailed
}

// historyFailed handles a kit history that cannot be read. Without it, a
// kit that the operator rolled back from looks new, and importing it would
// undo the rollback. So the kit is skipped this round, not imported and
// not rejected.
func (w *watcher) historyFailed(ctx context.Context, c watch.Candidate, attrs []any, err error) outcome {
	if cas.IsStoreError(err) {
		return w.storeFailed(c, attrs, err)
	}
	w.logOnce(ctx, c, slog.LevelError, "reading the kit history failed, so the watch cannot tell whether the "+
		"kit was rolled back from; skipped this round, not rejected", append(attrs, "error", err)...)
	w.lastDeferred = err
	return outcomeDeferred
}

// isLocalReadError reports whether err is an operating system error that
// a reason of this host caused, not the content of a kit. Examples are a
// denied permission, an I/O error and a folder where a file belongs. A
// missing file is not one, because a layout folder without a blob is an
// incomplete kit.
func isLocalReadError(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EACCES, syscall.EPERM, syscall.EIO, syscall.EISDIR, syscall.ENXIO, syscall.ENODEV,
		syscall.EBUSY, syscall.ESTALE, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ETIMEDOUT,
		syscall.EAGAIN, syscall.EINTR, syscall.ELOOP, syscall.ENOTCONN, syscall.EHOSTDOWN:
		return true
	}
	return false
}

// conflictError is the rejection of a kit that shares its sequence with a
// kit of another digest in the drop folder.
type conflictError struct{ reason string }

func (e conflictError) Error() string { return e.reason }

// conflictReason returns why c is rejected for the conflicting candidates,
// or "" when it is not: it has none, it is the active kit, or it is older
// than the active kit and so skipped anyway.
func conflictReason(c watch.Candidate, conflicts []watch.Candidate, active cas.KitRecord, hasActive bool) string {
	if len(conflicts) == 0 {
		return ""
	}
	if hasActive && (c.Summary.Digest == active.Digest || c.Summary.Sequence < active.Sequence) {
		return ""
	}
	return watch.ConflictReason(c, conflicts, active.Digest.String())
}

// countsInConflict reports whether c, which shares its sequence with a
// candidate of another digest, may make that candidate conflict. The active
// kit counts, and so does a kit whose signature verifies with keys and
// that has not expired. Any other kit does not: anyone who can write to
// the drop folder could have made it, and the watch never imports an
// expired kit. Such a kit is left to its own import, which rejects it for
// its signature or its expiry.
func (w *watcher) countsInConflict(ctx context.Context, c watch.Candidate, keys []sign.TrustedKey,
	active cas.KitRecord, hasActive bool) bool {
	if hasActive && c.Summary.Digest == active.Digest {
		return true
	}
	attrs := kitAttrs(c.Path, c.Summary.Version, c.Summary.Digest.String())
	if exp := c.Summary.Expires; !exp.IsZero() && w.now().After(exp) {
		// The watch never imports an expired kit, so it blocks no other.
		w.log.Debug("kit shares its sequence with another kit, but it expired, so it does not make that "+
			"kit conflict", append(attrs, "expired", exp.UTC().Format(time.RFC3339))...)
		return false
	}
	check, err := importer.CheckKitSignature(ctx, c.Path, c.Summary.Digest, keys)
	switch {
	case err != nil:
		w.log.Debug("checking the signature of a kit that shares its sequence with another kit failed, "+
			"so it does not make that kit conflict", append(attrs, "error", err)...)
		return false
	case check.SignedBy == "":
		w.log.Debug("kit shares its sequence with another kit, but no trusted key signed it, "+
			"so it does not make that kit conflict", append(attrs, "reason", check.Failure(keys, filepath.Join(w.storeDir, storeKeysDir)))...)
		return false
	}
	return true
}

// rejectConflict rejects a kit for the conflict that reason describes,
// unless its note already records that same conflict.
func (w *watcher) rejectConflict(ctx context.Context, c watch.Candidate, reason, active string) outcome {
	if note, ok := w.readNote(c.Path); ok && note.Conflict && note.Reason == watch.NoteReason(reason) && !note.Stale(c, active) {
		return w.remainsRejected(ctx, c, note)
	}
	w.reject(c, c.Summary, active, conflictError{reason: reason})
	return outcomeRejected
}

// kitAttrs returns the log attributes of a kit file, leaving out a version
// or digest that could not be read.
func kitAttrs(path, version, digest string) []any {
	attrs := []any{"path", path}
	if version != "" {
		attrs = append(attrs, "version", version)
	}
	if digest != "" {
		attrs = append(attrs, "digest", digest)
	}
	return attrs
}

func summaryVersion(s *delta.Summary) string {
	if s == nil {
		return ""
	}
	return s.Version
}

func summaryDigest(s *delta.Summary) string {
	if s == nil {
		return ""
	}
	return s.Digest.String()
}

// withManualOverride appends, to a rejection that an import flag can
// override, the stella ouk import command with that flag and watch's store
// and keys, because watch itself has none of those flags.
func (w *watcher) withManualOverride(err error, path string) error {
	var flag, intro string
	switch {
	case errors.Is(err, errdef.ErrExpired):
		flag, intro = "--allow-expired", "watch never imports an expired kit; to import it anyway, run"
	case errors.Is(err, errdef.ErrDowngrade):
		flag, intro = "--allow-downgrade", "watch never imports an older kit; to import it anyway, run"
	case errors.Is(err, errdef.ErrSignature):
		keys := "the store's keys folder"
		if w.storeDir != "" {
			keys = filepath.Join(w.storeDir, "keys")
		}
		flag, intro = "--insecure-skip-signature", "watch never skips the signature check. If you trust the "+
			"kit's builder, put the builder's public key into "+keys+" as a file named *.pub (or pass it to watch with --key); the "+
			"next round sees the new key and tries the kit again. To import it without any signature check, "+
			"which trusts whoever could write the file, run"
		var sigErr *importer.SignatureError
		if errors.As(err, &sigErr) {
			// The import's own advice names a flag that watch lacks.
			switch {
			case sigErr.Unsigned:
				intro = "watch never imports a kit without a signature. Ask its builder for a signed kit, " +
					"built again with stella ouk build --key. A .sig file from stella ouk sign does not help, " +
					"because import checks only the signature inside the kit. To import it without any " +
					"signature check, which trusts whoever could write the file, run"
			case sigErr.KeyAdvised:
				// The failure names the keys folder already.
				intro = "watch never skips the signature check. Once the key is in place, the next round " +
					"tries the kit again. To import it without any signature check, which trusts whoever " +
					"could write the file, run"
			}
			err = fmt.Errorf("kit %s (%s): %s: %w", sigErr.Version, sigErr.Digest, sigErr.Failure, errdef.ErrSignature)
		}
	default:
		return err
	}
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	return fmt.Errorf("%w; %s: %s", err, intro, w.stellaCommand([]string{"ouk", "import", flag}, path))
}

// stellaCommand returns the shell command line that runs the stella
// command words on operand with watch's store and trusted keys, because
// the command needs both and the operator may have given them to watch.
func (w *watcher) stellaCommand(words []string, operand string) string {
	args := []string{"stella"}
	if w.storeDir != "" {
		args = append(args, "--store", w.storeDir)
	}
	args = append(args, words...)
	for _, k := range w.opts.keys {
		if abs, aerr := filepath.Abs(k); aerr == nil {
			k = abs
		}
		args = append(args, "--key", k)
	}
	args = append(args, operand)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote returns s as one word for a POSIX shell: unchanged when it
// contains only safe characters, otherwise in single quotes.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
