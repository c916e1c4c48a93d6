package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/schollz/progressbar/v3"

	"stella-ops.org/ouk/importer"
	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/delta"
)

// roleDBManifest is the role of the kit's DB manifest.
const roleDBManifest = "DB manifest"

// checkNode is a blob of a kit's graph with its role in the kit.
type checkNode struct {
	desc ocispec.Descriptor
	role string
}

// checkedGraph is the outcome of the walk of a kit's graph.
type checkedGraph struct {
	// complete is set when the store holds every blob that the kit
	// reaches and each could be read.
	complete bool
	// db is the descriptor of the kit's DB manifest, or nil when the kit
	// has none or it could not be read.
	db *ocispec.Descriptor
	// signatures counts the stored signature manifests of the bundle
	// index.
	signatures int
}

// walkKit reads every blob that the kit of kc reaches and checks each
// against its digest. Like gc, it follows the referrers of each blob
// besides the blobs that a manifest names, so it reads the stored
// signature manifests and the delta manifest that a delta import keeps.
// It goes on past a missing or damaged blob, so the report lists them all.
func (c *storeChecker) walkKit(ctx context.Context, kc *kitCheck) checkedGraph {
	graph := checkedGraph{complete: true}
	bundle := digest.Digest(kc.Digest)
	queue := []checkNode{{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: bundle},
		role: "bundle index"}}
	seen := map[digest.Digest]bool{}
	var blocked []checkNode
	for len(queue) > 0 && ctx.Err() == nil {
		n := queue[0]
		queue = queue[1:]
		if seen[n.desc.Digest] {
			continue
		}
		seen[n.desc.Digest] = true
		children, err := c.checkNode(ctx, kc, &n)
		if err != nil {
			graph.complete = false
			p := c.nodeProblem(kc, n, err)
			c.addProblem(p)
			if oci.IsManifest(n.desc.MediaType) {
				blocked = append(blocked, n)
			}
			// The store lists the referrers of a damaged blob without
			// its content, and gc keeps them, but not those of a
			// missing blob.
			if p.Kind != problemMissing {
				queue = append(queue, c.referrerNodes(ctx, kc, n)...)
			}
			continue
		}
		if n.role == roleDBManifest {
			graph.db = &n.desc
		}
		queue = append(queue, children...)
		referrers := c.referrerNodes(ctx, kc, n)
		if n.desc.Digest == bundle {
			for _, r := range referrers {
				if r.desc.ArtifactType == oci.MediaTypeSigstoreBundle {
					graph.signatures++
				}
			}
		}
		queue = append(queue, referrers...)
	}
	for _, n := range blocked {
		if ctx.Err() != nil {
			break
		}
		c.addUnreached(ctx, kc, n, seen)
	}
	return graph
}

// unreachedBlobs are the blobs below a manifest or index of a kit whose
// content the check could not read, so the check could not reach them
// from the kit and did not read them.
type unreachedBlobs struct {
	// Manifest is the digest of the damaged or missing manifest or index,
	// and Role its place in the kit.
	Manifest string `json:"manifest"`
	Role     string `json:"role"`
	// Blobs and Bytes count the stored blobs below it, as the store's
	// records of the graph list them, that no other path of the kit
	// reached.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Error is the reason that the records of part of the graph below
	// could not be read, in which case Blobs may be too low.
	Error string `json:"error,omitempty"`
}

// addUnreached records in kc the blobs below n, a manifest or index of the
// kit whose check failed, that the walk did not reach by another path
// (seen). It lists them from the store's records of the graph, which Push
// wrote apart from the content of n.
func (c *storeChecker) addUnreached(ctx context.Context, kc *kitCheck, n checkNode, seen map[digest.Digest]bool) {
	u := unreachedBlobs{Manifest: n.desc.Digest.String(), Role: n.role}
	listed := map[digest.Digest]bool{}
	queue := []digest.Digest{n.desc.Digest}
	for len(queue) > 0 && ctx.Err() == nil {
		d := queue[0]
		queue = queue[1:]
		children, err := c.store.Children(ctx, d)
		if errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if err == nil && d != n.desc.Digest {
			// The walk read the referrers of n itself.
			var referrers []ocispec.Descriptor
			referrers, err = c.store.Referrers(ctx, ocispec.Descriptor{Digest: d})
			for _, r := range referrers {
				children = append(children, r.Digest)
			}
		}
		if err != nil {
			if u.Error == "" {
				u.Error = fmt.Sprintf("reading the store's record of the blobs below %s: %v", d, err)
			}
			continue
		}
		for _, child := range children {
			if seen[child] || listed[child] {
				continue
			}
			listed[child] = true
			queue = append(queue, child)
			info, err := c.store.Stat(ctx, child)
			if err != nil {
				// The store lacks the blob, or its record is damaged:
				// either way the check did not read it.
				continue
			}
			u.Blobs++
			u.Bytes += info.Size
			c.unreached[child] = fmt.Sprintf("not reached from a kit: below %s %s of kit %s, whose content "+
				"the check could not read", n.role, n.desc.Digest, printable(kc.Version))
		}
	}
	if u.Blobs > 0 || u.Error != "" {
		kc.Unreached = append(kc.Unreached, u)
	}
}

// nodeProblem returns the problem of the blob n of the kit kc, whose check
// failed with err.
func (c *storeChecker) nodeProblem(kc *kitCheck, n checkNode, err error) checkProblem {
	p := checkProblem{Kind: classifyProblem(err, problemError), Kit: kc.Digest, Digest: n.desc.Digest.String(),
		Role: n.role, err: err}
	if p.Kind != problemError || !errors.Is(err, errdef.ErrNotFound) {
		p.Error = err.Error()
		return p
	}
	p.Kind = problemMissing
	if n.desc.Digest.String() == kc.Digest {
		p.err = fmt.Errorf("the store no longer contains kit %s (%s), as after gc removed it as one of the "+
			"kits beyond its --keep count. Import the kit's file again to check it or roll back to it: %w",
			printable(kc.Version), kc.Digest, errdef.ErrNotFound)
	} else {
		p.err = fmt.Errorf("the store lacks this blob, so kit %s (%s) is incomplete. Import the kit's file again "+
			"with `stella ouk import KIT` (the full kit's file when a delta brought this kit): an import stores "+
			"the blobs that the store lacks and skips those it holds, also when the kit is active: %w",
			printable(kc.Version), kc.Digest, errdef.ErrNotFound)
	}
	p.Error = p.err.Error()
	return p
}

// checkNode reads the blob n and checks its digest. For a manifest or
// index, it returns the blobs that it names, each with its role.
func (c *storeChecker) checkNode(ctx context.Context, kc *kitCheck, n *checkNode) ([]checkNode, error) {
	info, err := c.store.Stat(ctx, n.desc.Digest)
	if err != nil {
		return nil, err
	}
	n.desc.Size = info.Size
	kc.Blobs++
	kc.Bytes += info.Size
	if !oci.IsManifest(n.desc.MediaType) && info.MediaType == "" {
		return nil, c.readBlob(ctx, n.desc)
	}
	raw, err := c.readManifest(ctx, n.desc)
	if err != nil {
		return nil, err
	}
	return childNodes(n, raw)
}

// childNodes returns the blobs that the manifest or index n, whose content
// is raw, names, each with its role in the kit.
func childNodes(n *checkNode, raw []byte) ([]checkNode, error) {
	var m struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		// Blobs is the list of an OCI artifact manifest, which gc
		// follows too.
		Blobs []ocispec.Descriptor `json:"blobs"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w", n.desc.Digest, err)
	}
	var out []checkNode
	if m.Config != nil {
		out = append(out, checkNode{desc: *m.Config, role: "config of " + n.role})
	}
	for i, l := range m.Layers {
		out = append(out, checkNode{desc: l, role: fmt.Sprintf("layer %d of %s", i+1, n.role)})
	}
	for _, d := range m.Manifests {
		out = append(out, checkNode{desc: d, role: manifestRole(n.role, d)})
	}
	for i, b := range m.Blobs {
		out = append(out, checkNode{desc: b, role: fmt.Sprintf("blob %d of %s", i+1, n.role)})
	}
	return out, nil
}

// manifestRole returns the role of the manifest or index d that the index
// with role parent names.
func manifestRole(parent string, d ocispec.Descriptor) string {
	if parent != "bundle index" {
		if d.Platform != nil {
			return parent + " (" + oci.PlatformString(*d.Platform) + ")"
		}
		return "manifest of " + parent
	}
	switch d.Annotations[oci.AnnotationRole] {
	case oci.RoleImage:
		return "image " + printable(d.Annotations[oci.AnnotationImageRef])
	case oci.RoleDB:
		return roleDBManifest
	case oci.RoleSBOM:
		return "SBOM manifest"
	}
	return "child of the bundle index"
}

// referrerNodes returns the stored manifests whose subject is the blob n
// of the kit kc, such as the signature manifests that importer.CheckStored
// verifies for the bundle index, each with its role in the kit.
func (c *storeChecker) referrerNodes(ctx context.Context, kc *kitCheck, n checkNode) []checkNode {
	referrers, err := c.store.Referrers(ctx, n.desc)
	if err != nil && ctx.Err() == nil {
		c.addProblem(checkProblem{Kind: classifyProblem(err, problemError), Kit: kc.Digest,
			Digest: n.desc.Digest.String(), Role: n.role,
			Error: fmt.Sprintf("listing the signatures and other referrers of the blob: %v", err), err: err})
	}
	if err != nil {
		return nil
	}
	owner := n.role
	if n.desc.Digest.String() == kc.Digest {
		owner = "the kit"
	}
	var out []checkNode
	for _, r := range referrers {
		var role string
		switch r.ArtifactType {
		case oci.MediaTypeSigstoreBundle:
			role = "signature manifest of " + owner
		case delta.ArtifactType:
			role = "delta manifest of " + owner
		default:
			role = fmt.Sprintf("referrer (%s) of %s", printable(r.ArtifactType), owner)
		}
		out = append(out, checkNode{desc: r, role: role})
	}
	return out
}

// readManifest reads the manifest or index desc, checks its digest, and
// returns its content.
func (c *storeChecker) readManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > importer.MaxManifestSize {
		return nil, fmt.Errorf("manifest %s has %d bytes, over the %d byte limit of a manifest: %w", desc.Digest,
			desc.Size, importer.MaxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	// Each kit reads its manifests again, because the walk needs their
	// content. A manifest that fails here is a problem of its kit
	// already, so --all does not read it again as a blob that no kit
	// reached.
	raw, err := c.fetchManifest(ctx, desc)
	c.read[desc.Digest] = err
	return raw, err
}

func (c *storeChecker) fetchManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	r, err := c.store.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
	if err != nil {
		return nil, err
	}
	c.progress.add(int64(len(raw)))
	if err := checkContent(c.dir, desc, int64(len(raw)), desc.Digest.Algorithm().FromBytes(raw)); err != nil {
		return nil, err
	}
	return raw, nil
}

// readBlob reads the blob desc once per check and checks its digest. For
// a blob that an earlier kit of this check read, it returns the outcome
// of that read without reading the blob again, so damage found then is a
// problem of this kit too.
func (c *storeChecker) readBlob(ctx context.Context, desc ocispec.Descriptor) error {
	if err, done := c.read[desc.Digest]; done {
		return err
	}
	err := c.fetchBlob(ctx, desc)
	c.read[desc.Digest] = err
	return err
}

func (c *storeChecker) fetchBlob(ctx context.Context, desc ocispec.Descriptor) error {
	r, err := c.store.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer r.Close()
	digester := desc.Digest.Algorithm().Digester()
	n, err := io.Copy(io.MultiWriter(digester.Hash(), c.progress), &contextReader{ctx: ctx, r: r})
	if err != nil {
		return err
	}
	return checkContent(c.dir, desc, n, digester.Digest())
}

// contextReader stops a long read when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// checkContent compares the size n and digest got of a stored blob with
// desc. A stored blob that does not match is damage of the store in dir,
// because Push checked both before it stored the blob.
func checkContent(dir string, desc ocispec.Descriptor, n int64, got digest.Digest) error {
	switch {
	case n != desc.Size:
		return &contentDamageError{dir: dir, msg: fmt.Sprintf("the store is damaged: blob %s has %d bytes, but "+
			"the store recorded %d", desc.Digest, n, desc.Size)}
	case got != desc.Digest:
		return &contentDamageError{dir: dir, msg: fmt.Sprintf("the store is damaged: the content of blob %s has "+
			"the digest %s", desc.Digest, got)}
	}
	return nil
}

// contentDamageError is a stored blob whose content no longer matches its
// digest or size, although Pebble found no damaged block.
type contentDamageError struct {
	dir string
	msg string
}

func (e *contentDamageError) Error() string { return e.msg }

// Is makes the error match errdef.ErrStoreDamaged.
func (e *contentDamageError) Is(target error) bool { return target == errdef.ErrStoreDamaged }

// checkIndex reads every key of the lookup index of each layer of the
// kit's DB.
func (c *storeChecker) checkIndex(ctx context.Context, kc *kitCheck, graph checkedGraph) {
	raw, err := c.readManifest(ctx, *graph.db)
	if err != nil {
		// The walk reported the manifest already.
		return
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return
	}
	c.progress.describe("checking the lookup index")
	defer c.progress.describe("checking blobs")
	index := c.store.KV(importer.VulnDBNamespace)
	for i, layer := range m.Layers {
		if ctx.Err() != nil {
			return
		}
		kc.DBLayers++
		keys, err := vulndb.ReadLayerIndex(ctx, index, layer.Digest, c.progress.addKeys)
		kc.IndexKeys += keys
		if err == nil {
			continue
		}
		p := checkProblem{Kind: classifyProblem(err, problemIndex), Kit: kc.Digest, Digest: layer.Digest.String(),
			Role: fmt.Sprintf("layer %d of DB manifest", i+1), err: err}
		if p.Kind == problemIndex {
			p.err = fmt.Errorf("%w. Import the kit's file again with `stella ouk import KIT`, which indexes the "+
				"layer again: %w", err, errdef.ErrNotFound)
		}
		p.Error = p.err.Error()
		c.addProblem(p)
	}
}

// checkProgress shows the bytes read on a progress bar, on a terminal.
// Its methods do nothing on a nil *checkProgress.
type checkProgress struct {
	lines *terminalLines
	bar   *progressbar.ProgressBar
}

// newCheckProgress returns the progress of a check on lines, or nil when
// lines is nil.
func newCheckProgress(lines *terminalLines) *checkProgress {
	if lines == nil {
		return nil
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(lines.barWriter()),
		progressbar.OptionSetDescription("checking blobs"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	bar.RenderBlank()
	return &checkProgress{lines: lines, bar: bar}
}

// Write counts len(p) bytes read, so a blob can be copied through it.
func (p *checkProgress) Write(b []byte) (int, error) {
	p.add(int64(len(b)))
	return len(b), nil
}

func (p *checkProgress) add(n int64) {
	if p != nil {
		p.bar.Add64(n)
	}
}

// addKeys counts the bytes of lookup index keys read.
func (p *checkProgress) addKeys(bytes int64) { p.add(bytes) }

func (p *checkProgress) describe(text string) {
	if p != nil {
		p.bar.Describe(text)
	}
}

// close stops the bar and erases it. Calling it again is harmless.
func (p *checkProgress) close() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
	p.lines.clear()
}
