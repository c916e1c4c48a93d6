package layout

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// DamagedIndexAdvice is the next step for an index.json of a kit file that
// fails to decode or lists an entry that no OCI tool writes. No signature
// covers index.json, so damage in transit shows only this way.
const DamagedIndexAdvice = damagedIndex + ", so copy the kit file again, and if the error persists, " + fixMessage

// DamagedFolderIndexAdvice is DamagedIndexAdvice for a layout folder.
const DamagedFolderIndexAdvice = damagedIndex + ", so copy the folder again, and if the error persists, " +
	"write the folder again at its source: with `stella ouk build` for a kit, or with the tool that wrote " +
	"it, such as `skopeo copy` or `oras cp`, for an image"

// damagedIndex starts both kinds of advice, so that HasDamagedIndexAdvice
// finds either.
const damagedIndex = "index.json is damaged"

// HasDamagedIndexAdvice reports whether the error message msg already
// advises copying a kit file or folder again for a damaged index.json.
func HasDamagedIndexAdvice(msg string) bool {
	return strings.Contains(msg, damagedIndex+", so copy the")
}

// UnknownEntryError is the error of an index.json that lists an entry which
// is no OCI or Docker manifest or index, as after a flipped bit in its media
// type. It wraps errdef.ErrInvalidKit.
type UnknownEntryError struct {
	Entry ocispec.Descriptor
	// Advice is the next step that the message ends with, such as
	// DamagedIndexAdvice, or "" when the caller does not know where the
	// index came from.
	Advice string
}

func (e *UnknownEntryError) Error() string {
	msg := fmt.Sprintf("index.json lists %s with media type %q, which is no manifest or index media type",
		e.Entry.Digest, e.Entry.MediaType)
	if e.Advice != "" {
		msg += "; " + e.Advice
	}
	return msg + ": " + errdef.ErrInvalidKit.Error()
}

func (e *UnknownEntryError) Unwrap() error { return errdef.ErrInvalidKit }

// FindUnknownEntry returns the error for the first entry of index that is
// no OCI or Docker manifest or index, with the given advice, or nil when
// every entry is one.
func FindUnknownEntry(index ocispec.Index, advice string) error {
	for _, d := range index.Manifests {
		if !oci.IsManifest(d.MediaType) {
			return &UnknownEntryError{Entry: d, Advice: advice}
		}
	}
	return nil
}

// ParseKitIndex decodes the index.json of a kit file and checks it as
// parseIndex does. Import and verify both read index.json with it, so that
// verify passes no kit that import rejects. Its errors wrap
// errdef.ErrInvalidKit and give DamagedIndexAdvice.
func ParseKitIndex(b []byte) (*ocispec.Index, error) {
	idx, err := parseIndex(b, "index.json", DamagedIndexAdvice)
	if err != nil {
		return nil, err
	}
	return &idx, nil
}

// indexKeys are the top-level keys of an OCI image index, as image-index.md
// of image-spec v1.1.1 defines them.
var indexKeys = map[string]bool{
	"schemaVersion": true, "mediaType": true, "artifactType": true,
	"manifests": true, "subject": true, "annotations": true,
}

// parseIndex decodes index.json, named name in messages, and checks its
// schemaVersion and that it has a manifests list, which image-index.md of
// image-spec v1.1.1 requires, though the list may be empty. An index.json
// without one is most likely damaged, as by a flipped bit in the key, so
// the error names any unknown top-level keys.
// Its errors wrap errdef.ErrInvalidKit and end with advice, unless advice
// is "".
func parseIndex(b []byte, name, advice string) (ocispec.Index, error) {
	suffix := ""
	if advice != "" {
		suffix = "; " + advice
	}
	var index ocispec.Index
	if err := json.Unmarshal(b, &index); err != nil {
		if kind := schemaVersionKind(b); kind != "" {
			return ocispec.Index{}, fmt.Errorf("%s: schemaVersion is %s, but must be the number 2%s: %w",
				name, kind, suffix, errdef.ErrInvalidKit)
		}
		return ocispec.Index{}, fmt.Errorf("decoding %s: %v%s: %w", name, err, suffix, errdef.ErrInvalidKit)
	}
	if index.SchemaVersion != 2 {
		return ocispec.Index{}, fmt.Errorf("%s has schemaVersion %d, expected 2%s: %w",
			name, index.SchemaVersion, suffix, errdef.ErrInvalidKit)
	}
	if index.Manifests == nil {
		if suffix == "" {
			suffix = "; " + damagedIndex
		}
		return ocispec.Index{}, fmt.Errorf("%s has no manifests list, which every OCI image index has%s%s. "+
			"If this is an image archive rather than a kit, give images to `stella ouk build --image`: %w",
			name, unknownKeysClause(b), suffix, errdef.ErrInvalidKit)
	}
	return index, nil
}

// schemaVersionKind describes the schemaVersion of the JSON object b when
// it is no number, such as `"2", a string`, so that the error names the
// fault in JSON terms rather than Go ones. It returns "" otherwise.
func schemaVersionKind(b []byte) string {
	var fields struct {
		SchemaVersion json.RawMessage `json:"schemaVersion"`
	}
	if json.Unmarshal(b, &fields) != nil || len(fields.SchemaVersion) == 0 {
		return ""
	}
	value := string(fields.SchemaVersion)
	switch value[0] {
	case '"':
		if len(value) > 40 {
			return "a string of " + fmt.Sprint(len(value)-2) + " bytes"
		}
		return value + ", a string"
	case 't', 'f':
		return value + ", a boolean"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return ""
}

// unknownKeysClause names the top-level keys of the JSON object b that an
// OCI image index does not define, or returns "" when there are none.
func unknownKeysClause(b []byte) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return ""
	}
	var unknown []string
	for k := range fields {
		if !indexKeys[k] {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	sort.Strings(unknown)
	if len(unknown) == 1 {
		return ", but has the unknown key " + unknown[0]
	}
	return ", but has the unknown keys " + strings.Join(unknown, ", ")
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

// MissingIndexError returns the error of the kit file named kit, or of an
// unnamed one when kit is "", that has no index.json entry. It wraps
// errdef.ErrInvalidKit and gives DamagedIndexAdvice, because a copy cut
// short or damaged in transit loses the entry.
func MissingIndexError(kit string) error {
	name := "kit"
	if kit != "" {
		name = "kit " + kit
	}
	return fmt.Errorf("%s has no index.json; %s: %w", name, DamagedIndexAdvice, errdef.ErrInvalidKit)
}

// ErrNoLayoutFile is the error of a kit file without an oci-layout entry.
var ErrNoLayoutFile = fmt.Errorf("kit has no oci-layout file, so it is not an OCI image layout: %w", errdef.ErrInvalidKit)
