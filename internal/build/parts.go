package build

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// maxSBOMSize bounds an SBOM file given with --sbom.
const maxSBOMSize = 64 << 20

// buildDB merges the feeds into DB layers and stores the DB manifest.
func (b *builder) buildDB(ctx context.Context) (ocispec.Descriptor, vulndb.Summary, error) {
	bo := vulndb.BuildOptions{
		Feeds:    b.opts.Feeds,
		Rollup:   b.opts.Rollup,
		Removal:  b.opts.Removal,
		Created:  b.created,
		Logger:   b.opts.Logger,
		Progress: b.feedProgress(),
	}
	if b.base != nil {
		prev, err := b.previousDB(ctx)
		if err != nil {
			return ocispec.Descriptor{}, vulndb.Summary{}, err
		}
		bo.Base = prev
	}
	b.startStage(StageFeeds)
	res, err := vulndb.Build(ctx, bo)
	if err != nil {
		return ocispec.Descriptor{}, vulndb.Summary{}, fmt.Errorf("building vulnerability DB: %w", err)
	}
	if _, err := b.pushBytes(ctx, res.ConfigDescriptor.MediaType, res.Config); err != nil {
		return ocispec.Descriptor{}, vulndb.Summary{}, err
	}
	layers := make([]ocispec.Descriptor, 0, len(res.Layers))
	for _, l := range res.Layers {
		if l.Data != nil {
			if _, err := b.pushBytes(ctx, l.Descriptor.MediaType, l.Data); err != nil {
				return ocispec.Descriptor{}, vulndb.Summary{}, err
			}
		}
		layers = append(layers, l.Descriptor)
	}
	b.layerCount = len(layers)
	desc, _, err := b.pushJSON(ctx, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:    specsVersioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: oci.ArtifactTypeDB,
		Config:       res.ConfigDescriptor,
		Layers:       layers,
		Annotations:  map[string]string{oci.AnnotationCreated: b.created.Format("2006-01-02T15:04:05Z")},
	})
	if err != nil {
		return ocispec.Descriptor{}, vulndb.Summary{}, err
	}
	desc.ArtifactType = oci.ArtifactTypeDB
	desc.Annotations = map[string]string{oci.AnnotationRole: oci.RoleDB}
	return desc, res.Summary, nil
}

// addImages loads every image and returns its bundle child descriptor.
// With a base kit and no image given, it returns the base kit's images.
func (b *builder) addImages(ctx context.Context) ([]ocispec.Descriptor, error) {
	if b.base != nil {
		if len(b.opts.Images) == 0 && !b.opts.DropBaseImages {
			return b.baseImages(ctx)
		}
		b.logDroppedBaseImages()
	}
	var out []ocispec.Descriptor
	for _, img := range b.opts.Images {
		if err := checkImageSource(img.Path); err != nil {
			return nil, fmt.Errorf("loading image %s: %w", img.Ref, err)
		}
		desc, src, err := layout.LoadImage(ctx, img.Path, img.Ref)
		if err != nil {
			return nil, fmt.Errorf("loading image %s from %s: %w", img.Ref, img.Path, asImageSourceError(img.Path, err))
		}
		b.src.rest = append(b.src.rest, src)
		if err := checkRefDigest(img, desc); err != nil {
			return nil, err
		}
		child := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size,
			ArtifactType: desc.ArtifactType, Platform: desc.Platform}
		child.Annotations = map[string]string{oci.AnnotationRole: oci.RoleImage, oci.AnnotationImageRef: img.Ref}
		out = append(out, child)
		b.opts.Logger.Info("image added", "ref", img.Ref, "digest", desc.Digest)
	}
	if b.opts.CheckImages != nil {
		if err := b.opts.CheckImages(out); err != nil {
			return nil, err
		}
	}
	// The bundle index lists the images by reference, so the order in
	// which they are given does not change the bundle digest.
	slices.SortStableFunc(out, func(x, y ocispec.Descriptor) int {
		return cmp.Or(strings.Compare(x.Annotations[oci.AnnotationImageRef], y.Annotations[oci.AnnotationImageRef]),
			strings.Compare(x.Digest.String(), y.Digest.String()))
	})
	return out, nil
}

// checkRefDigest rejects an image reference whose digest, after "@", is not
// the digest of the manifest or index loaded for it. The kit would carry
// the reference as given, so status and the mirror would show a digest
// that names other content.
func checkRefDigest(img Image, loaded ocispec.Descriptor) error {
	at := strings.LastIndex(img.Ref, "@")
	if at < 0 {
		return nil
	}
	given := digest.Digest(img.Ref[at+1:])
	if given == loaded.Digest {
		return nil
	}
	kind := "manifest"
	if loaded.MediaType == ocispec.MediaTypeImageIndex || loaded.MediaType == mediaTypeDockerManifestList {
		kind = "index"
	}
	return fmt.Errorf("image reference %s names digest %s, but the image at %s has %s digest %s; "+
		"give the reference with @%s, or without a digest: %w",
		img.Ref, given, img.Path, kind, loaded.Digest, loaded.Digest, errdef.ErrInvalidArgument)
}

// mediaTypeDockerManifestList is the media type of a Docker image index,
// which an OCI layout may list beside OCI ones.
const mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// addSBOM stores the SBOM manifest, from --sbom or generated from the kit.
func (b *builder) addSBOM(ctx context.Context, db ocispec.Descriptor, images []ocispec.Descriptor, summary vulndb.Summary) (ocispec.Descriptor, error) {
	var doc []byte
	if b.opts.SBOM != "" {
		raw, err := readSBOM(b.opts.SBOM)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		doc = raw
	} else {
		in, err := b.kitContents(ctx, db, images, summary)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if doc, err = sbom.GenerateSPDX(in, b.created); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("generating SBOM: %w", err)
		}
	}
	layerDesc, err := b.pushBytes(ctx, oci.MediaTypeSPDX, doc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layerDesc.Annotations = map[string]string{oci.AnnotationTitle: "sbom.spdx.json"}
	empty := ocispec.DescriptorEmptyJSON
	if _, err := b.pushBytes(ctx, empty.MediaType, empty.Data); err != nil {
		return ocispec.Descriptor{}, err
	}
	empty.Data = nil
	desc, _, err := b.pushJSON(ctx, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:    specsVersioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: oci.MediaTypeSPDX,
		Config:       empty,
		Layers:       []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.ArtifactType = oci.MediaTypeSPDX
	desc.Annotations = map[string]string{oci.AnnotationRole: oci.RoleSBOM}
	return desc, nil
}

// readSBOM reads an SPDX 2.3 JSON document given by the operator.
func readSBOM(path string) ([]byte, error) {
	f, err := regfile.Open(path, "an SPDX 2.3 JSON file")
	if err != nil {
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSBOMSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading SBOM %s: %w", path, err)
	}
	if len(raw) > maxSBOMSize {
		return nil, fmt.Errorf("SBOM %s is over %d bytes: %w", path, maxSBOMSize, errdef.ErrSizeExceedsLimit)
	}
	if err := checkSBOM(path, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// checkSBOM rejects the content raw of the SBOM file at path unless it is
// an SPDX 2.3 JSON document with the document fields that SPDX 2.3
// requires.
func checkSBOM(path string, raw []byte) error {
	var head struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case !errors.As(err, &typeErr):
			return fmt.Errorf("SBOM %s is not JSON: %v; %s", path, err, sbomAdvice(path))
		case typeErr.Field == "":
			return fmt.Errorf("SBOM %s is a JSON %s, but a kit carries an SPDX 2.3 JSON SBOM only, "+
				"which is a JSON object; %s", path, typeErr.Value, sbomAdvice(path))
		}
		return fmt.Errorf("SBOM %s is not an SPDX 2.3 JSON document, whose spdxVersion is the text \"SPDX-2.3\": "+
			"%s; %s", path, jsonFieldTypeProblem(typeErr), sbomAdvice(path))
	}
	switch {
	case head.SPDXVersion == "SPDX-2.3":
		if missing := missingSPDXFields(raw); len(missing) > 0 {
			return fmt.Errorf("SBOM %s is not a complete SPDX 2.3 document: it does not have %s, which SPDX "+
				"2.3 requires of every document; %s", path, strings.Join(missing, ", "), sbomAdvice(path))
		}
		return nil
	case head.BOMFormat == "CycloneDX":
		return fmt.Errorf("SBOM %s is a CycloneDX %s document, but a kit carries an SPDX 2.3 JSON SBOM only; %s",
			path, head.SpecVersion, sbomAdvice(path))
	case head.SPDXVersion == "":
		return fmt.Errorf("SBOM %s has no spdxVersion field, so it is not an SPDX JSON document, and a kit "+
			"carries an SPDX 2.3 JSON SBOM only; %s", path, sbomAdvice(path))
	}
	return fmt.Errorf("SBOM %s has spdxVersion %q, but a kit carries an SPDX 2.3 JSON SBOM only; %s",
		path, head.SPDXVersion, sbomAdvice(path))
}

// missingSPDXFields returns the document fields that SPDX 2.3 requires
// (its document creation information) and raw lacks or sets to another
// value than the specification allows, each with the value expected.
func missingSPDXFields(raw []byte) []string {
	var doc struct {
		SPDXID            string `json:"SPDXID"`
		DataLicense       string `json:"dataLicense"`
		Name              string `json:"name"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      *struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		problem := err.Error()
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			problem = jsonFieldTypeProblem(typeErr)
		}
		return []string{fmt.Sprintf("fields of the expected types (%s)", problem)}
	}
	var missing []string
	if doc.SPDXID != "SPDXRef-DOCUMENT" {
		missing = append(missing, `SPDXID "SPDXRef-DOCUMENT"`)
	}
	if doc.DataLicense != "CC0-1.0" {
		missing = append(missing, `dataLicense "CC0-1.0"`)
	}
	if doc.Name == "" {
		missing = append(missing, "name")
	}
	if doc.DocumentNamespace == "" {
		missing = append(missing, "documentNamespace")
	}
	switch {
	case doc.CreationInfo == nil:
		missing = append(missing, "creationInfo")
	default:
		if doc.CreationInfo.Created == "" {
			missing = append(missing, "creationInfo.created")
		}
		if len(doc.CreationInfo.Creators) == 0 {
			missing = append(missing, "creationInfo.creators")
		}
	}
	return missing
}

// jsonFieldTypeProblem describes a JSON value of the wrong type in an SBOM
// by its field and JSON types, in place of the decoder's Go types.
func jsonFieldTypeProblem(err *json.UnmarshalTypeError) string {
	want := "a JSON " + err.Type.Kind().String()
	switch err.Type.Kind() {
	case reflect.String:
		want = "text"
	case reflect.Slice:
		want = "a JSON array"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		want = "a JSON object"
	}
	return fmt.Sprintf("field %q is a JSON %s, where %s is expected", err.Field, err.Value, want)
}

// sbomAdvice returns the next step for an SBOM file that a kit cannot
// carry as it is. syft's spdx-json output is SPDX 2.3 JSON, as the Output
// Formats page of the syft wiki states (June 2024).
func sbomAdvice(path string) string {
	return fmt.Sprintf("convert it, for example with `syft convert %s -o spdx-json=SBOM.spdx.json`, and pass the "+
		"result, or leave out --sbom (and sbom in the build file) so that the kit carries the SBOM stella generates "+
		"from its contents", path)
}

// multiSource reads blobs from the staging store, then from each image or
// base kit source in turn.
type multiSource struct {
	first content.ReadOnlyStorage
	rest  []content.ReadOnlyStorage
}

func (m *multiSource) all() []content.ReadOnlyStorage {
	return append([]content.ReadOnlyStorage{m.first}, m.rest...)
}

func (m *multiSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	for _, s := range m.all() {
		ok, err := s.Exists(ctx, d)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.Fetch(ctx, d)
		}
	}
	return nil, fmt.Errorf("blob %s: %w", d.Digest, orasErrdef.ErrNotFound)
}

func (m *multiSource) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	for _, s := range m.all() {
		ok, err := s.Exists(ctx, d)
		if err != nil && !errors.Is(err, orasErrdef.ErrNotFound) {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func fetchJSON(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, v any) ([]byte, error) {
	if d.Size > 4<<20 {
		return nil, fmt.Errorf("manifest %s declares %d bytes, over the 4 MiB limit: %w", d.Digest, d.Size, errdef.ErrSizeExceedsLimit)
	}
	raw, err := content.FetchAll(ctx, src, d)
	if err != nil {
		return nil, err
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(v); err != nil {
		return nil, fmt.Errorf("decoding %s: %v: %w", d.Digest, err, errdef.ErrInvalidKit)
	}
	return raw, nil
}
