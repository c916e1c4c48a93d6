package build

import (
	"context"
	"encoding/json"
	"sort"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci"
)

var jsonUnmarshal = json.Unmarshal

// kitContents describes the kit for a generated SBOM: the DB and every
// image with its platforms.
func (b *builder) kitContents(ctx context.Context, db ocispec.Descriptor, images []ocispec.Descriptor, summary vulndb.Summary) (sbom.KitContents, error) {
	version := b.version()
	in := sbom.KitContents{
		Name:        "stella-ouk",
		Version:     version,
		ToolVersion: b.opts.ToolVersion,
		DB: sbom.DBInfo{
			Digest:  db.Digest.String(),
			Records: summary.Records,
			Sources: feedNames(b.opts.Feeds),
		},
	}
	for _, img := range images {
		info := sbom.ImageInfo{Ref: img.Annotations[oci.AnnotationImageRef], Digest: img.Digest.String()}
		if oci.IsIndex(img.MediaType) {
			var idx ocispec.Index
			if _, err := fetchJSON(ctx, b.src, img, &idx); err != nil {
				return in, err
			}
			for _, m := range idx.Manifests {
				if m.Platform != nil {
					info.Platforms = append(info.Platforms, oci.PlatformString(*m.Platform))
				}
			}
		} else if img.Platform != nil {
			info.Platforms = []string{oci.PlatformString(*img.Platform)}
		}
		in.Images = append(in.Images, info)
	}
	return in, nil
}

func feedNames(feeds []vulndb.Feed) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range feeds {
		name := f.Kind
		if f.Name != "" {
			name += ":" + f.Name
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
