// Package sbom writes the SPDX document that describes a kit and reads the
// SPDX and CycloneDX documents that scans take as input.
package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	packageurl "github.com/package-url/packageurl-go"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// NamespaceBase is the prefix of the documentNamespace of a kit SBOM. SPDX
// requires a unique URI there; it identifies the document and is never
// fetched.
const NamespaceBase = "https://stella-ops.org/spdx/ouk/"

// KitContents lists what a kit carries, for its SBOM.
type KitContents struct {
	// Name is the kit package name; empty means "stella-ouk".
	Name string
	// Version is the kit version; it is required and names the document.
	Version string
	// ToolVersion is the release of the program that wrote the document.
	// The creator tool is "stella-" followed by it, or "stella" when it is
	// empty.
	ToolVersion string
	// DB is the vulnerability DB artifact.
	DB DBInfo
	// Images are the container images in the kit, in any order.
	Images []ImageInfo
}

// DBInfo describes the vulnerability DB artifact of a kit.
type DBInfo struct {
	// Digest is the digest of the DB manifest, such as "sha256:…".
	Digest string
	// Records is the number of vulnerability records.
	Records int
	// Sources names the feeds the records came from.
	Sources []string
}

// ImageInfo describes one image in a kit.
type ImageInfo struct {
	// Ref is the reference the image is mirrored to, such as
	// "registry.example/stella-ops/scanner:0.1.0".
	Ref string
	// Digest is the digest of the image index or manifest.
	Digest string
	// Platforms lists the image's platforms, such as "linux/amd64".
	Platforms []string
}

const (
	defaultKitName = "stella-ouk"
	noAssertion    = "NOASSERTION"
	idKit          = "kit"
	idDB           = "vulnerability-db"
)

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// creatorTool returns the program that wrote the document in the form SPDX
// expects for a tool: its name, a hyphen and its release.
func creatorTool(release string) string {
	if release == "" {
		return "stella"
	}
	return "stella-" + release
}

// GenerateSPDX returns an SPDX 2.3 JSON document describing in: one package
// for the kit, one for the vulnerability DB and one per image, with the kit
// DESCRIBED by the document and CONTAINING the others. created is written in
// UTC with second precision. The same input gives the same bytes: images are
// sorted by reference and digest, and the namespace ends with a hash of in.
func GenerateSPDX(in KitContents, created time.Time) ([]byte, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	name := in.Name
	if name == "" {
		name = defaultKitName
	}
	images := append([]ImageInfo(nil), in.Images...)
	sort.Slice(images, func(i, j int) bool {
		if images[i].Ref != images[j].Ref {
			return images[i].Ref < images[j].Ref
		}
		return images[i].Digest < images[j].Digest
	})

	namespace, err := documentNamespace(in, images)
	if err != nil {
		return nil, err
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      "stella-ouk-" + in.Version,
		DocumentNamespace: namespace,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: creatorTool(in.ToolVersion)}},
			Created:  created.UTC().Format("2006-01-02T15:04:05Z"),
		},
	}

	doc.Packages = append(doc.Packages, kitPackage(name, in.Version), dbPackage(in.Version, in.DB))
	doc.Relationships = append(doc.Relationships,
		relationship("DOCUMENT", "DESCRIBES", idKit),
		relationship(idKit, "CONTAINS", idDB))
	usedIDs := map[common.ElementID]bool{idKit: true, idDB: true}
	for _, img := range images {
		pkg, err := imagePackage(img)
		if err != nil {
			return nil, err
		}
		pkg.PackageSPDXIdentifier = uniqueID(pkg.PackageSPDXIdentifier, usedIDs)
		doc.Packages = append(doc.Packages, pkg)
		doc.Relationships = append(doc.Relationships, relationship(idKit, "CONTAINS", pkg.PackageSPDXIdentifier))
	}

	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding SPDX document: %w", err)
	}
	return append(out, '\n'), nil
}

// uniqueID returns id, or id with the suffix "-2", "-3" and so on when
// used already contains it, and adds the result to used. SPDX 2.3 requires
// unique element identifiers in a document, but image IDs collide for one
// image under two references, for digests that share their first 12 hex
// digits and for names that differ only in characters an ID cannot
// contain. The images are sorted, so the suffixes are the same in every
// build of the same contents.
func uniqueID(id common.ElementID, used map[common.ElementID]bool) common.ElementID {
	candidate := id
	for n := 2; used[candidate]; n++ {
		candidate = common.ElementID(fmt.Sprintf("%s-%d", id, n))
	}
	used[candidate] = true
	return candidate
}

func validate(in KitContents) error {
	if in.Version == "" {
		return errors.New("generating SBOM: kit version is empty; set the version the kit is built with")
	}
	if _, err := digest.Parse(in.DB.Digest); err != nil {
		return fmt.Errorf("generating SBOM: DB digest %q is invalid: %w", in.DB.Digest, err)
	}
	if in.DB.Records < 0 {
		return fmt.Errorf("generating SBOM: DB record count %d is negative", in.DB.Records)
	}
	for _, img := range in.Images {
		if img.Ref == "" {
			return fmt.Errorf("generating SBOM: image %s has no reference", img.Digest)
		}
		if _, err := digest.Parse(img.Digest); err != nil {
			return fmt.Errorf("generating SBOM: image %s digest %q is invalid: %w", img.Ref, img.Digest, err)
		}
	}
	return nil
}

// documentNamespace returns NamespaceBase + "<version>-<12 hex digits>",
// where the digits hash the kit contents so that different kits of one
// version get different namespaces.
func documentNamespace(in KitContents, sortedImages []ImageInfo) (string, error) {
	in.Images = sortedImages
	raw, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("hashing kit contents: %w", err)
	}
	sum := sha256.Sum256(raw)
	return NamespaceBase + in.Version + "-" + hex.EncodeToString(sum[:])[:12], nil
}

func kitPackage(name, version string) *spdx.Package {
	return &spdx.Package{
		PackageName:             name,
		PackageSPDXIdentifier:   idKit,
		PackageVersion:          version,
		PackageDownloadLocation: noAssertion,
		PackageSupplier:         &common.Supplier{Supplier: "Stella Ops", SupplierType: "Organization"},
		PrimaryPackagePurpose:   "ARCHIVE",
		PackageComment:          "Offline Update Kit: vulnerability DB and container images for air-gapped sites.",
	}
}

func dbPackage(version string, db DBInfo) *spdx.Package {
	d := digest.Digest(db.Digest)
	sources := append([]string(nil), db.Sources...)
	sort.Strings(sources)
	comment := fmt.Sprintf("%d vulnerability records", db.Records)
	if len(sources) > 0 {
		comment += " from " + strings.Join(sources, ", ")
	}
	pkg := &spdx.Package{
		PackageName:             "stella-vulnerability-db",
		PackageSPDXIdentifier:   idDB,
		PackageVersion:          version,
		PackageDownloadLocation: noAssertion,
		PrimaryPackagePurpose:   "OTHER",
		PackageComment:          comment,
	}
	if d.Algorithm() == digest.SHA256 {
		pkg.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: d.Encoded()}}
	}
	return pkg
}

func imagePackage(img ImageInfo) (*spdx.Package, error) {
	d := digest.Digest(img.Digest)
	repo, tag := splitRef(img.Ref)
	name := repo[strings.LastIndex(repo, "/")+1:]

	qualifiers := map[string]string{"repository_url": repo}
	if tag != "" {
		qualifiers["tag"] = tag
	}
	purl := packageurl.NewPackageURL(packageurl.TypeOCI, "", name, img.Digest,
		packageurl.QualifiersFromMap(qualifiers), "").ToString()

	version := tag
	if version == "" {
		version = img.Digest
	}
	platforms := append([]string(nil), img.Platforms...)
	sort.Strings(platforms)
	comment := "image " + img.Ref
	if len(platforms) > 0 {
		comment += "; platforms: " + strings.Join(platforms, ", ")
	}

	pkg := &spdx.Package{
		PackageName:             name,
		PackageSPDXIdentifier:   common.ElementID("image-" + spdxIDUnsafe.ReplaceAllString(name, "-") + "-" + d.Encoded()[:min(12, len(d.Encoded()))]),
		PackageVersion:          version,
		PackageDownloadLocation: noAssertion,
		PrimaryPackagePurpose:   "CONTAINER",
		PackageComment:          comment,
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager,
			RefType:  common.TypePackageManagerPURL,
			Locator:  purl,
		}},
	}
	if d.Algorithm() == digest.SHA256 {
		pkg.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: d.Encoded()}}
	}
	return pkg, nil
}

// splitRef splits "host/path:tag@digest" into "host/path" and "tag"; the
// digest part is dropped because ImageInfo carries the digest separately.
func splitRef(ref string) (repo, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

func relationship(a common.ElementID, kind string, b common.ElementID) *spdx.Relationship {
	return &spdx.Relationship{
		RefA:         common.DocElementID{ElementRefID: a},
		RefB:         common.DocElementID{ElementRefID: b},
		Relationship: kind,
	}
}
