package build

import (
	"context"
	"encoding/json"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/sbom"
	"stella-ops.org/ouk/internal/vulndb"
)

var jsonUnmarshal = json.Unmarshal

// kitContents describes the kit for a generated SBOM.
func (b *builder) kitContents(ctx context.Context, db ocispec.Descriptor, images []ocispec.Descriptor, summary vulndb.Summary) (sbom.KitContents, error) {
	// TODO: fill once the SPDX generator's input type is settled.
	return sbom.KitContents{}, nil
}
