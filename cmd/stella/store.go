package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/oci/sign"
)

// storeFolderPerm is the permission of the store folder, which holds the
// trusted keys and the configuration. Its owner may widen it to let other
// users read the store. The content store creates db/ and the folders in
// it with mode 0755 less the umask.
const storeFolderPerm = 0o700

// Folders inside the store folder.
const (
	storeDBDir   = "db"   // the Pebble content store
	storeKeysDir = "keys" // trusted public keys of kit signers, *.pub
	// storeQuotaKeysDir contains the public keys of quota token issuers,
	// *.pub. Listing keys/ reads no subfolder, so these keys never verify
	// a kit, and scans do not read the keys of kit signers for tokens.
	storeQuotaKeysDir = "keys/quota"
)

// openStore opens the content store, creating the store folder on first use.
// With wait above zero it waits that long for another process to release
// the store, so short commands queue behind each other. Cancelling ctx ends
// that wait with a *storeWaitInterruptedError, which wraps
// context.Canceled. A ctx that is done before any wait gives an error
// wrapping context.Canceled alone.
func (g *globalOptions) openStore(ctx context.Context, log *slog.Logger, wait time.Duration) (*cas.Store, string, error) {
	return g.openStoreCache(ctx, log, wait, 0)
}

// importCacheSize is the block cache of the commands that import kits.
// They write blobs and tables and read few keys, so a small cache keeps
// their memory from growing with the number of large blobs they ingest.
const importCacheSize = 4 << 20

// openStoreCache is openStore with a block cache of cacheSize bytes, or
// the store's default when it is zero.
func (g *globalOptions) openStoreCache(ctx context.Context, log *slog.Logger, wait time.Duration, cacheSize int64) (*cas.Store, string, error) {
	return g.openStoreWith(ctx, cas.Options{Logger: log, LockWait: wait, CacheSize: cacheSize})
}

// openStoreWith opens the content store with opts, creating the store
// folder on first use unless opts.MustExist is set.
func (g *globalOptions) openStoreWith(ctx context.Context, opts cas.Options) (*cas.Store, string, error) {
	if g.svc != nil {
		return g.svc.open(ctx, g, opts)
	}
	dir, err := g.storeDir()
	if err != nil {
		return nil, "", err
	}
	var created newStoreParts
	if !opts.MustExist {
		created = g.absentStoreParts()
	}
	if opts.MustExist {
		info, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The folder was there when the caller checked for the store,
			// and a rejected first import may have removed it since.
			return nil, "", &noStoreError{dir: dir, removed: true}
		case err == nil && !info.IsDir():
			return nil, "", storePathIsFileError(dir)
		}
	} else if err := os.MkdirAll(dir, storeFolderPerm); err != nil {
		if info, serr := os.Stat(dir); serr == nil && !info.IsDir() {
			return nil, "", storePathIsFileError(dir)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, "", fmt.Errorf("creating store folder %s: %w; create it as a user who may write its parent "+
				"folder and make this user its owner, or give another folder with --store or $STELLA_HOME", dir, err)
		}
		if target, lerr := os.Readlink(dir); lerr == nil {
			return nil, "", fmt.Errorf("creating store folder %s: it is a symbolic link to %s, which does not exist; "+
				"create that folder, or give another folder with --store or $STELLA_HOME", dir, target)
		}
		return nil, "", fmt.Errorf("creating store folder: %w", err)
	}
	if err := checkStoreFolderAccess(dir, opts.ReadOnlyIfUnwritable); err != nil {
		return nil, "", err
	}
	if !opts.ReadOnlyIfUnwritable && !opts.MustExist {
		warnNewStoreAmongOtherFiles(opts.Logger, dir)
	}
	opts.HolderCommand = g.command
	// Without MustExist, the content store creates the store folder again
	// when the process that it waited for removed it, as after a rejected
	// first import.
	opts.ParentPerm = storeFolderPerm
	if serviceHoldsStore(dir) {
		// The service holds the store for as long as it runs, so waiting
		// for it would only delay the same failure.
		return nil, "", fmt.Errorf("store %s is held by the store service (%s), which does not run `%s`; stop "+
			"the service while the command runs, or run the command on another store: %w", dir,
			holderOrUnknown(dir), g.command, errdef.ErrStoreInUse)
	}
	s, err := cas.OpenContext(ctx, filepath.Join(dir, storeDBDir), opts)
	if err != nil && created.folder {
		// A failed open, as on a volume too full for a new store, removes
		// the folders made for the store when they are empty.
		removeCreatedFolders(opts.Logger, dir, created)
	}
	if errors.Is(err, errdef.ErrStoreInUse) {
		return nil, "", storeInUseError(dir, opts.LockWait, g.command, err)
	}
	if errors.As(err, new(*cas.WaitStoppedError)) {
		return nil, "", &storeWaitInterruptedError{err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Interrupted before the open could wait for the store, such as
		// while a scan read its SBOM: main prints the command's own line.
		return nil, "", err
	}
	if opts.MustExist && errors.Is(err, errdef.ErrNotFound) {
		if _, statErr := os.Stat(filepath.Join(dir, storeDBDir)); errors.Is(statErr, fs.ErrNotExist) {
			return nil, "", &noStoreError{dir: dir, removed: true}
		}
		// The content store's folder is there but holds no database, as
		// when it was made by hand.
		return nil, "", &noStoreError{dir: dir}
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "opening store ") {
			// The store's own message names it already.
			return nil, "", err
		}
		return nil, "", fmt.Errorf("opening store %s: %w", dir, err)
	}
	return s, dir, nil
}

// pinHolder returns the holder name of the pin that a lookup or scan puts
// on the kit it reads. In the store service, where many commands share one
// process, the name also contains the request ID of the command.
func (g *globalOptions) pinHolder() string {
	if g.request != nil {
		return fmt.Sprintf("pid-%d-request-%d", os.Getpid(), g.request.id)
	}
	return fmt.Sprintf("pid-%d", os.Getpid())
}

// storePathIsFileError returns the error for a store folder path dir that
// names a file.
func storePathIsFileError(dir string) error {
	return fmt.Errorf("store path %s is a file, not a folder; give the store folder with --store or $STELLA_HOME", dir)
}

// warnNewStoreAmongOtherFiles logs a warning when the store folder dir
// contains no content store yet, so that opening it creates one, but
// contains files other than those of a store. Without it, such a folder,
// like a feed folder given to --store by mistake, gets a db/ folder
// silently. A lost+found folder, as at the root of a dedicated volume, does
// not count.
func warnNewStoreAmongOtherFiles(log *slog.Logger, dir string) {
	if log == nil {
		return
	}
	if _, err := os.Lstat(filepath.Join(dir, storeDBDir)); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var others []string
	for _, e := range entries {
		switch e.Name() {
		case storeKeysDir, configFile, "lost+found":
			continue
		}
		others = append(others, e.Name())
	}
	if len(others) == 0 {
		return
	}
	const maxListed = 3
	listed := strings.Join(others[:min(len(others), maxListed)], ", ")
	if len(others) > maxListed {
		listed += fmt.Sprintf(" and %d more", len(others)-maxListed)
	}
	log.Warn(fmt.Sprintf("creating a new store in %s, a folder that contains other files but no store; if the store "+
		"belongs elsewhere, check --store and $STELLA_HOME, and remove %s if it remains", dir, filepath.Join(dir, storeDBDir)),
		"entries", listed)
}

// storeInUseError describes err, from an Open of the store in dir that
// gave up after waiting for wait, with the flag that sets the wait. When
// the store changed hands during the wait, it describes how, since
// waiting for one process to finish would not help.
func storeInUseError(dir string, wait time.Duration, command string, err error) error {
	var inUse *cas.InUseError
	if errors.As(err, &inUse) && inUse.Changed() {
		holder := "another stella process"
		if inUse.Holder != "" {
			holder += " (" + inUse.Holder + ")"
		}
		return fmt.Errorf("store %s is busy: %s; the last holder was %s. Run fewer stella commands on this store "+
			"at once, or wait longer with --lock-timeout (now %s): %w", dir, inUse.Turnover(), holder, wait,
			errdef.ErrStoreInUse)
	}
	holder := "another stella process"
	h := cas.LockHolder(filepath.Join(dir, storeDBDir))
	if h != "" {
		holder += " (" + h + ")"
	}
	if strings.Contains(h, ", stella serve,") && forwardedCommands[strings.TrimPrefix(command, "stella ")] {
		return fmt.Errorf("store %s is held by the store service (%s), but its socket %s does not accept "+
			"connections, so the command cannot run in it; restart the service: %w", dir, h,
			filepath.Join(dir, serviceSocketName), errdef.ErrStoreInUse)
	}
	if strings.Contains(h, ", stella serve,") {
		return fmt.Errorf("store %s is held by the store service (%s), which does not run this command; stop "+
			"the service while the command runs, or run the command on another store: %w", dir, h,
			errdef.ErrStoreInUse)
	}
	return fmt.Errorf("store %s is used by %s; wait for it to finish and try again, "+
		"or wait longer for it with --lock-timeout (now %s): %w", dir, holder, wait, errdef.ErrStoreInUse)
}

// newStoreParts records which parts of a store an open is about to create.
type newStoreParts struct {
	folder bool // the store folder
	db     bool // the content store in it
	// top is the outermost folder that the open creates on the way to
	// the store folder, or "" when that folder's parent exists.
	top string
}

// absentStoreParts returns the parts of the store that do not exist yet.
func (g *globalOptions) absentStoreParts() newStoreParts {
	dir, err := g.storeDir()
	if err != nil {
		return newStoreParts{}
	}
	_, folderErr := os.Stat(dir)
	_, dbErr := os.Stat(filepath.Join(dir, storeDBDir))
	parts := newStoreParts{folder: errors.Is(folderErr, fs.ErrNotExist), db: errors.Is(dbErr, fs.ErrNotExist)}
	if parts.folder {
		for parent := filepath.Dir(dir); parent != filepath.Dir(parent); parent = filepath.Dir(parent) {
			if _, err := os.Lstat(parent); !errors.Is(err, fs.ErrNotExist) {
				break
			}
			parts.top = parent
		}
	}
	return parts
}

// removeUnusedStore closes store and, when this command created it and it
// holds nothing, removes it and the store folder dir if this command
// created that too and it is empty, and then the empty parent folders it
// created. It reports whether it removed the store. A failed import calls
// it, so that an import rejected before it stored anything leaves no new
// store behind.
func removeUnusedStore(log *slog.Logger, store *cas.Store, dir string, created newStoreParts) bool {
	if !created.db {
		return false
	}
	removed, err := store.CloseAndRemoveIfEmpty()
	if err != nil {
		log.Warn("removing the unused new store failed", "dir", dir, "error", err)
		return false
	}
	if !removed || !created.folder {
		return removed
	}
	removeCreatedFolders(log, dir, created)
	return true
}

// removeCreatedFolders removes the store folder dir and then the parent
// folders up to created.top, which the command created for a new store.
// Remove deletes only an empty folder, so anything that another process
// put there meanwhile stays.
func removeCreatedFolders(log *slog.Logger, dir string, created newStoreParts) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Debug("keeping the new store folder", "dir", dir, "error", err)
		return
	}
	if created.top == "" {
		return
	}
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		if err := os.Remove(parent); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Debug("keeping a folder created for the new store", "dir", parent, "error", err)
			return
		}
		if parent == created.top || parent == filepath.Dir(parent) {
			return
		}
	}
}

// checkStoreFolderAccess returns an error that names the store folder dir
// when this user may not enter it, as when another user owns it with mode
// 0700. Without it, the first failure is the store's attempt to create
// dir/db, whose "permission denied" suggests that the folder is missing.
func checkStoreFolderAccess(dir string, reading bool) error {
	_, err := os.Stat(filepath.Join(dir, storeDBDir))
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	mode := ""
	if info, serr := os.Stat(dir); serr == nil {
		mode = fmt.Sprintf(" (mode %s)", info.Mode())
	}
	// A command that only reads needs no write permission.
	perms := "read, write and search (x)"
	if reading {
		perms = "read and search (x)"
	}
	return fmt.Errorf("store folder %s%s exists, but this user may not enter it: %w; run stella as the user who "+
		"owns the store, give this user %s permission on the folder, or give another "+
		"folder with --store or $STELLA_HOME", dir, mode, err, perms)
}

// trustedKeys loads the keys given with --key and every *.pub in the store's
// keys folder, and logs a warning naming each *.pub entry there that it
// skipped because it is not a regular file.
func trustedKeys(log *slog.Logger, storeDir string, files []string) ([]sign.TrustedKey, error) {
	return loadTrustedKeys(log, filepath.Join(storeDir, storeKeysDir), files)
}

// loadTrustedKeys loads the key files and every *.pub in dir, as
// trustedKeys does for one folder of the store.
func loadTrustedKeys(log *slog.Logger, dir string, files []string) ([]sign.TrustedKey, error) {
	// The history records the file of the key that verified a kit, so it
	// is kept absolute: a relative path would point nowhere from another
	// folder.
	abs := make([]string, len(files))
	for i, f := range files {
		abs[i] = f
		if a, err := filepath.Abs(f); err == nil {
			abs[i] = a
		}
	}
	keys, skipped, err := sign.LoadTrustedKeysFrom(abs, []string{dir})
	if err != nil {
		return nil, fmt.Errorf("loading trusted keys: %w", err)
	}
	for _, s := range skipped {
		if s.Err != nil {
			log.Warn("skipped a file of the trusted-keys folder, and the other keys there still verify kits; "+
				"remove the file, or replace it with the PEM public key, such as cosign.pub, that it should hold",
				"path", s.Path, "error", s.Err.Error())
			continue
		}
		log.Warn("skipped an entry of the trusted-keys folder that is not a regular file; "+
			"replace it with the public key file itself or remove it", "path", s.Path, "type", s.Type)
	}
	for _, k := range keys {
		if k.ExtraBlocks > 0 {
			log.Warn("read only the first PEM block of a trusted key file, so the keys of the other blocks are not "+
				"trusted; put each public key in a file of its own", "path", k.Source, "otherBlocks", k.ExtraBlocks)
		}
	}
	return keys, nil
}

// keyPassword returns the password of a private key: $COSIGN_PASSWORD when
// set (empty included), as cosign reads it; otherwise a prompt on a terminal,
// otherwise empty. In the store service, $COSIGN_PASSWORD is the client's,
// and there is no prompt, because the service's terminal is not the
// client's.
func keyPassword(g *globalOptions, prompt string, confirm bool) ([]byte, error) {
	if p, ok := g.lookupEnv("COSIGN_PASSWORD"); ok {
		return []byte(p), nil
	}
	if g.request != nil || !isTerminal(os.Stdin) {
		return nil, nil
	}
	return readPassword(prompt, confirm)
}

// loadSigner reads a private key file in cosign's format, or as PKCS#8 or
// SEC 1 EC PEM.
func loadSigner(g *globalOptions, path string) (cryptoSigner, error) {
	raw, err := regfile.ReadFile(path, "a private key file such as cosign.key")
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	pw, err := keyPassword(g, "Enter password for private key: ", false)
	if err != nil {
		return nil, err
	}
	s, err := sign.LoadPrivateKey(raw, pw)
	if errors.Is(err, sign.ErrWrongPassword) && pw == nil && g.request != nil {
		return nil, &explainedError{err: err, msg: fmt.Sprintf("loading signing key %s: the key is encrypted with a "+
			"password, and no password was given, because COSIGN_PASSWORD is not set and the store service, "+
			"which runs this command, cannot prompt for it; set COSIGN_PASSWORD to the password the key was "+
			"created with", path)}
	}
	if errors.Is(err, sign.ErrWrongPassword) && pw == nil {
		// No password came from the environment or a terminal, so the
		// library's "wrong password" would mislead. The message leaves it
		// out, and the chain keeps it for errors.Is.
		return nil, &explainedError{err: err, msg: fmt.Sprintf("loading signing key %s: the key is encrypted with a "+
			"password, and no password was given, because COSIGN_PASSWORD is not set and standard input is not a "+
			"terminal; set COSIGN_PASSWORD to the password the key was created with, or run the command on a "+
			"terminal to type it", path)}
	}
	if errors.Is(err, sign.ErrWrongPassword) && len(pw) > 0 {
		if _, emptyErr := sign.LoadPrivateKey(raw, nil); emptyErr == nil {
			return nil, &explainedError{err: err, msg: fmt.Sprintf("loading signing key %s: the key was "+
				"written with an empty password, but a password was given; unset COSIGN_PASSWORD, or set it "+
				"to the empty string", path)}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading signing key %s: %w", path, err)
	}
	return s, nil
}

// storeAbsent returns the store folder and true when it holds no content
// store yet, so read-only commands can report that without creating one.
func (g *globalOptions) storeAbsent() (string, bool) {
	dir, err := g.storeDir()
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, storeDBDir)); errors.Is(err, fs.ErrNotExist) {
		return dir, true
	}
	return dir, false
}

// openExistingStore opens the store like openStore but fails, creating
// nothing, when the store folder holds no content store: commands that only
// read kits have nothing to work on there, and a mistyped --store should not
// leave a new store behind. That includes a store that the process whose
// release it waited for removed, as a rejected first import does.
func (g *globalOptions) openExistingStore(ctx context.Context, log *slog.Logger, wait time.Duration) (*cas.Store, string, error) {
	if err := g.checkStorePresent(); err != nil {
		return nil, "", err
	}
	return g.openStoreWith(ctx, cas.Options{Logger: log, LockWait: wait, MustExist: true})
}

// openExistingStoreForReading is openExistingStore for a command that
// only reads the store. Where this user cannot write the store, as on a
// read-only mount or for a store that another user owns, it opens the
// store read-only under a shared lock (cas.Options.ReadOnlyIfUnwritable),
// and store.ReadOnly reports that. On a volume too full for an open for
// writing, it opens the store read-only too and logs a warning.
func (g *globalOptions) openExistingStoreForReading(ctx context.Context, log *slog.Logger, wait time.Duration) (*cas.Store, string, error) {
	return g.openStoreReadOnlyIfFull(ctx, log, wait, "This command works")
}

// openExistingStoreForScan is openExistingStoreForReading for a scan,
// whose warning on a full volume adds that the scan is not counted
// against the quota.
func (g *globalOptions) openExistingStoreForScan(ctx context.Context, log *slog.Logger, wait time.Duration) (*cas.Store, string, error) {
	return g.openStoreReadOnlyIfFull(ctx, log, wait, "The scan works, but it is not counted against the quota")
}

// openStoreReadOnlyIfFull opens the store as openExistingStoreForReading
// describes. The warning on a full volume includes effect, a sentence on
// what the read-only store means for the command.
func (g *globalOptions) openStoreReadOnlyIfFull(ctx context.Context, log *slog.Logger, wait time.Duration,
	effect string) (*cas.Store, string, error) {
	if err := g.checkStorePresent(); err != nil {
		return nil, "", err
	}
	store, dir, err := g.openStoreWith(ctx, cas.Options{Logger: log, LockWait: wait,
		ReadOnlyIfUnwritable: true, ReadOnlyIfFull: true, MustExist: true})
	if err == nil && store.LowSpace() != nil && log != nil {
		log.Warn(fmt.Sprintf("opened store %s read-only, because %v. %s. Free space or inodes on that volume "+
			"so that the store opens for writing again", dir, store.LowSpace(), effect))
	}
	return store, dir, err
}

// checkStorePresent returns an error when the store folder holds no
// content store.
func (g *globalOptions) checkStorePresent() error {
	if dir, absent := g.storeAbsent(); absent {
		return &noStoreError{dir: dir}
	}
	return nil
}

// noStoreError is the error of a command that needs an existing store when
// the store folder holds none.
type noStoreError struct {
	dir string
	// removed is set when the store was there when the command checked
	// for it, and another process removed it before the command could
	// open it, as a rejected first import does while the command waits.
	removed bool
}

func (e *noStoreError) Error() string {
	msg := fmt.Sprintf("no store at %s", e.dir)
	if e.removed {
		msg += ": another process removed it while this command was opening it, as a rejected first import " +
			"removes the new store it created"
	}
	return msg + "; import a kit first with `stella ouk import KIT`, or check --store and $STELLA_HOME"
}

// Is makes a missing store an errdef.ErrNotFound, for the reason of a JSON
// failure object, without adding the kind's text to the message.
func (e *noStoreError) Is(target error) bool { return target == errdef.ErrNotFound }

// storeWaitInterruptedError is the error of an open that a signal stopped
// while it waited for another process to release the store, so the command
// changed nothing. It wraps the context error, for exit code 130.
type storeWaitInterruptedError struct {
	err error
	// inService is set for a wait in the store service for another
	// command that changes the store.
	inService bool
}

func (e *storeWaitInterruptedError) Error() string { return e.err.Error() }
func (e *storeWaitInterruptedError) Unwrap() error { return e.err }
