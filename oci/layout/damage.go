package layout

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
