package layout

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	ggcrlayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
)

// demoBinaryPath is where BuildDemoImage puts the binary in each image.
const demoBinaryPath = "/usr/bin/stella"

// BuildDemoImage builds a multi-platform image of the stella binary and
// writes it as an OCI image layout folder at outDir, which must not exist
// or be empty. binaries maps a platform such as "linux/amd64" to the path
// of its binary. Each platform's image has one layer holding the binary at
// /usr/bin/stella (mode 0755, modification time created) and the entrypoint
// ["/usr/bin/stella"]. index.json lists the image index with the
// annotation org.opencontainers.image.ref.name = ref. The same binaries,
// ref and created time give the same index digest. It returns the index
// descriptor as index.json lists it.
func BuildDemoImage(ctx context.Context, binaries map[string]string, ref string, created time.Time,
	outDir string) (ocispec.Descriptor, error) {
	if len(binaries) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("building demo image: no binaries given; pass at least one PLATFORM=PATH")
	}
	if err := checkFreshDir(outDir); err != nil {
		return ocispec.Descriptor{}, err
	}
	created = created.Truncate(time.Second).UTC()

	platforms := make([]string, 0, len(binaries))
	for p := range binaries {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		if err := ctx.Err(); err != nil {
			return ocispec.Descriptor{}, err
		}
		img, plat, err := demoPlatformImage(p, binaries[p], created)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: plat},
		})
	}

	out, err := ggcrlayout.Write(outDir, empty.Index)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("creating layout folder %s: %w", outDir, err)
	}
	anns := map[string]string{ocispec.AnnotationRefName: ref}
	if err := out.AppendIndex(idx, ggcrlayout.WithAnnotations(anns)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing image index to %s: %w", outDir, err)
	}
	index, _, err := OpenDir(outDir)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if len(index.Manifests) != 1 {
		return ocispec.Descriptor{}, fmt.Errorf("layout folder %s lists %d entries after writing, expected 1: %w",
			outDir, len(index.Manifests), errdef.ErrInvalidKit)
	}
	return index.Manifests[0], nil
}

func checkFreshDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking output folder: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("output folder %s is not empty; remove it or choose another: %w", dir, errdef.ErrAlreadyExists)
	}
	return nil
}

// demoPlatformImage builds the image of one platform.
func demoPlatformImage(platform, binary string, created time.Time) (v1.Image, *v1.Platform, error) {
	plat, err := v1.ParsePlatform(platform)
	if err != nil || plat.OS == "" || plat.Architecture == "" {
		return nil, nil, fmt.Errorf("platform %q is not OS/ARCH[/VARIANT], such as linux/amd64", platform)
	}
	layerTar, err := demoLayerTar(binary, created)
	if err != nil {
		return nil, nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, nil, fmt.Errorf("building layer for %s: %w", platform, err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "stella demo image: COPY stella " + demoBinaryPath,
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("adding layer for %s: %w", platform, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("reading config for %s: %w", platform, err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = plat.OS, plat.Architecture, plat.Variant
	cfg.Created = v1.Time{Time: created}
	cfg.Config.Entrypoint = []string{demoBinaryPath}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("setting config for %s: %w", platform, err)
	}
	return img, plat, nil
}

// demoLayerTar returns an uncompressed layer holding the binary at
// /usr/bin/stella, with its parent folders, all dated created.
//
// NOTE: the layer is built in memory, which suits test binaries of tens of
// megabytes but not large images.
func demoLayerTar(binary string, created time.Time) ([]byte, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"usr/", "usr/bin/"} {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: demoBinaryPath[1:], Mode: 0o755, Size: int64(len(data)),
		ModTime: created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
