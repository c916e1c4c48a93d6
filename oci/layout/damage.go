package layout

import (
	"encoding/json"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// DamagedIndexAdvice is the next step for an index.json of a kit file that
// fails to decode or lists an entry that no OCI tool writes. No signature
// covers index.json, so damage in transit shows only this way.
const DamagedIndexAdvice = "index.json is damaged, so copy the kit file again, and if the error persists, " + fixMessage

// UnknownEntryProblem returns why index lists an entry that is no OCI or
// Docker manifest or index, as after a flipped bit in its media type, or
// "" when every entry is one.
func UnknownEntryProblem(index ocispec.Index) string {
	for _, d := range index.Manifests {
		if !oci.IsManifest(d.MediaType) {
			return fmt.Sprintf("index.json lists %s with media type %q, which is no manifest or index media type; %s",
				d.Digest, d.MediaType, DamagedIndexAdvice)
		}
	}
	return ""
}

// ParseKitIndex decodes the index.json of a kit file and checks its
// schemaVersion. Import and verify both read index.json with it, so that
// verify passes no kit that import rejects. Its errors wrap
// errdef.ErrInvalidKit and give DamagedIndexAdvice.
func ParseKitIndex(b []byte) (*ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("decoding index.json: %v; %s: %w", err, DamagedIndexAdvice, errdef.ErrInvalidKit)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("index.json schemaVersion is %d, want 2; %s: %w",
			idx.SchemaVersion, DamagedIndexAdvice, errdef.ErrInvalidKit)
	}
	return &idx, nil
}

// ReadKitLayoutFile reads the oci-layout entry of a kit file from r and
// checks its imageLayoutVersion. Its errors wrap errdef.ErrInvalidKit,
// except one that reading r returns.
func ReadKitLayoutFile(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return fmt.Errorf("reading oci-layout: %w", err)
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("decoding oci-layout: %v: %w", err, errdef.ErrInvalidKit)
	}
	if l.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("oci-layout version is %q, want %q: %w", l.Version, ocispec.ImageLayoutVersion, errdef.ErrInvalidKit)
	}
	return nil
}

// ErrNoLayoutFile is the error of a kit file without an oci-layout entry.
var ErrNoLayoutFile = fmt.Errorf("kit has no oci-layout file, so it is not an OCI image layout: %w", errdef.ErrInvalidKit)
