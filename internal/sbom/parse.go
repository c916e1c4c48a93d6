package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/regfile"
)

// MaxSBOMSize is the largest SBOM Parse reads, 256 MiB. SBOMs of large
// container images run to tens of MiB, so this leaves room while bounding
// memory, because the whole document is decoded at once.
const MaxSBOMSize = 256 << 20

// Formats returned by Parse.
const (
	FormatSPDX      = "spdx"
	FormatCycloneDX = "cyclonedx"
)

// Package is one software package listed in an SBOM.
type Package struct {
	// Name is the package name.
	Name string
	// Version is the package version, or empty when the SBOM gives none.
	// Surrounding spaces are removed, and SPDX's NOASSERTION and NONE
	// count as none.
	Version string
	// PURLs are the package URLs given for the package, each once, in
	// the SBOM's order. An SPDX package may have several purl external
	// references, and a CycloneDX component may have a purl in its
	// identity evidence besides its purl field.
	PURLs []string
	// CPEs are the CPE 2.3 names (or CPE 2.2 URIs) given for the package,
	// each once.
	CPEs []string
	// ID is the SPDX identifier ("SPDXRef-…") or the CycloneDX bom-ref.
	ID string
	// VersionRange is the CycloneDX 1.7 versionRange of an external
	// component, which names the versions it accepts in place of one.
	VersionRange string
}

// Parse reads an SPDX JSON or CycloneDX JSON document and returns its
// format (FormatSPDX or FormatCycloneDX, followed by "-" and the spec
// version, such as "spdx-2.3" or "cyclonedx-1.7") and its packages. The
// format is detected by the top-level "spdxVersion" or "bomFormat" field.
// SPDX 2.1 and 2.2 documents are read too, converted to 2.3. CycloneDX is
// read in versions 1.2 to 1.7, since the fields read here (components
// with name, version, purl, cpe and bom-ref) are the same in all of them.
// The concluded purls and CPEs of CycloneDX 1.6 and 1.7 identity evidence
// are read too. CycloneDX components nested in other components are
// included, and so is the metadata component when it has a purl or a CPE. Input over MaxSBOMSize wraps errdef.ErrSizeExceedsLimit.
func Parse(r io.Reader) (format string, pkgs []Package, err error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSBOMSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("reading SBOM: %w", err)
	}
	if len(raw) > MaxSBOMSize {
		return "", nil, fmt.Errorf("SBOM is larger than %d bytes; split it or scan the image directly: %w",
			MaxSBOMSize, errdef.ErrSizeExceedsLimit)
	}
	// Tools on Windows often start a UTF-8 file with a byte order mark.
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return "", nil, fmt.Errorf("SBOM is empty; %s", exportHint)
	}
	if trimmed[0] != '{' {
		return "", nil, fmt.Errorf("SBOM is not an SPDX or CycloneDX JSON document, because it does not start with a JSON object; %s",
			exportHint)
	}

	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", nil, fmt.Errorf("SBOM is not valid JSON (%s); %s", jsonProblem(err), exportHint)
	}
	var bomFormat string
	switch {
	case probe["spdxVersion"] != nil:
		var v string
		if json.Unmarshal(probe["spdxVersion"], &v) != nil || !strings.HasPrefix(v, "SPDX-2.") {
			return "", nil, fmt.Errorf("SBOM has spdxVersion %s, which is not an SPDX 2 version this stella reads (SPDX-2.1 to SPDX-2.3); %s",
				probe["spdxVersion"], exportHint)
		}
		return parseSPDX(raw)
	case probe["@context"] != nil && bytes.Contains(probe["@context"], []byte("spdx.org/rdf/3")):
		return "", nil, fmt.Errorf("SBOM is an SPDX 3 JSON-LD document, which this stella does not read; %s", exportHint)
	case probe["bomFormat"] != nil:
		if json.Unmarshal(probe["bomFormat"], &bomFormat) != nil || bomFormat != "CycloneDX" {
			return "", nil, fmt.Errorf("SBOM is not a CycloneDX document: bomFormat is %s, expected \"CycloneDX\"; %s",
				probe["bomFormat"], exportHint)
		}
		specVersion, err := cycloneDXVersion(probe["specVersion"])
		if err != nil {
			return "", nil, err
		}
		return parseCycloneDX(raw, specVersion)
	default:
		return "", nil, fmt.Errorf(`SBOM is not an SPDX or CycloneDX JSON document, because it has no "spdxVersion" or "bomFormat" field; %s`,
			exportHint)
	}
}

// exportHint is the next step for an SBOM that cannot be read.
const exportHint = "export the SBOM as SPDX 2.2/2.3 JSON or CycloneDX 1.2-1.7 JSON, such as with `syft -o spdx-json`"

// cycloneDXVersions are the CycloneDX JSON versions that this stella
// reads. Versions 1.0 and 1.1 were defined in XML only.
var cycloneDXVersions = []string{"1.2", "1.3", "1.4", "1.5", "1.6", "1.7"}

// cycloneDXVersion returns the specVersion field's value. It rejects one
// that is missing, not a string or not one of cycloneDXVersions, naming the
// value found.
func cycloneDXVersion(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", fmt.Errorf("CycloneDX SBOM has no specVersion field; %s", exportHint)
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return "", fmt.Errorf("CycloneDX SBOM has specVersion %s as a number, but CycloneDX requires a string; "+
				"write it in quotes, as \"specVersion\": \"%s\", or %s", raw, n, exportHint)
		}
	}
	if !slices.Contains(cycloneDXVersions, v) {
		return "", fmt.Errorf("CycloneDX SBOM has specVersion %s, which is not a CycloneDX JSON version this stella reads (%s); %s",
			raw, strings.Join(cycloneDXVersions, ", "), exportHint)
	}
	return v, nil
}

// ParseFile reads the SBOM at path as Parse does. A folder, a missing file
// and an unreadable one are errors that name the path.
func ParseFile(path string) (format string, pkgs []Package, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", nil, fmt.Errorf("opening SBOM: %w; check the path", err)
	}
	if info.IsDir() {
		return "", nil, fmt.Errorf("SBOM path %s is a folder; give the SBOM file in it", path)
	}
	f, err := regfile.Open(path, "an SBOM file")
	if err != nil {
		return "", nil, fmt.Errorf("opening SBOM: %w", err)
	}
	defer f.Close()
	format, pkgs, err = Parse(f)
	if err != nil {
		return "", nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return format, pkgs, nil
}

// jsonProblem describes a JSON decoding error without Go type names.
func jsonProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "the document ends early, so it may be truncated"
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("%v at byte %d", syntax, syntax.Offset)
	}
	return "the document is not a JSON object"
}

// decodeProblem describes an error of the SPDX or CycloneDX decoder, with
// the field and JSON type in place of Go type names.
func decodeProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q is a JSON %s, which the schema does not allow there", typeErr.Field, typeErr.Value)
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return jsonProblem(err)
	}
	return err.Error()
}

func parseSPDX(raw []byte) (string, []Package, error) {
	doc, err := spdxjson.Read(bytes.NewReader(raw))
	if err != nil {
		return "", nil, fmt.Errorf("parsing SPDX JSON: %v; check that the document follows the SPDX 2.2 or 2.3 JSON schema, or %s",
			decodeProblem(err), exportHint)
	}
	if doc == nil {
		return "", nil, fmt.Errorf("parsing SPDX JSON: document is empty; %s", exportHint)
	}
	format := FormatSPDX + "-" + strings.TrimPrefix(doc.SPDXVersion, "SPDX-")

	pkgs := make([]Package, 0, len(doc.Packages))
	for _, p := range doc.Packages {
		if p == nil {
			continue
		}
		pkg := Package{
			Name:    p.PackageName,
			Version: packageVersion(p.PackageVersion),
			ID:      "SPDXRef-" + string(p.PackageSPDXIdentifier),
		}
		for _, ref := range p.PackageExternalReferences {
			if ref == nil {
				continue
			}
			switch ref.RefType {
			case common.TypePackageManagerPURL:
				pkg.PURLs = appendNew(pkg.PURLs, ref.Locator)
			case common.TypeSecurityCPE23Type, common.TypeSecurityCPE22Type:
				pkg.CPEs = appendNew(pkg.CPEs, ref.Locator)
			}
		}
		pkgs = append(pkgs, pkg)
	}
	return format, pkgs, nil
}

func parseCycloneDX(raw []byte, specVersion string) (string, []Package, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(raw), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return "", nil, fmt.Errorf("parsing CycloneDX JSON: %v; check that the document follows the CycloneDX %s JSON schema, or %s",
			decodeProblem(err), specVersion, exportHint)
	}
	format := FormatCycloneDX + "-" + bom.SpecVersion.String()

	var pkgs []Package
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		if pkg := componentPackage(*bom.Metadata.Component); len(pkg.PURLs) > 0 || len(pkg.CPEs) > 0 {
			pkgs = append(pkgs, pkg)
		}
	}
	if bom.Components != nil {
		pkgs = appendComponents(pkgs, *bom.Components)
	}
	return format, pkgs, nil
}

// appendComponents walks nested components depth first. The recursion is
// bounded by encoding/json, which rejects input nested over 10000 levels.
func appendComponents(pkgs []Package, comps []cdx.Component) []Package {
	for _, c := range comps {
		pkgs = append(pkgs, componentPackage(c))
		if c.Components != nil {
			pkgs = appendComponents(pkgs, *c.Components)
		}
	}
	return pkgs
}

// componentPackage returns a CycloneDX component as a Package. Its purls
// and CPEs are the component's purl and cpe fields, followed by the
// concluded values of its identity evidence for the fields purl and cpe.
// The specification defines no other place for a component's purls or
// CPEs, so properties, which tools name as they like, are not read.
func componentPackage(c cdx.Component) Package {
	pkg := Package{Name: c.Name, Version: packageVersion(c.Version), ID: c.BOMRef, VersionRange: c.VersionRange}
	pkg.PURLs = appendNew(pkg.PURLs, c.PackageURL)
	pkg.CPEs = appendNew(pkg.CPEs, c.CPE)
	for _, id := range identityEvidence(c) {
		switch id.Field {
		case cdx.EvidenceIdentityFieldTypePURL:
			pkg.PURLs = appendNew(pkg.PURLs, id.ConcludedValue)
		case cdx.EvidenceIdentityFieldTypeCPE:
			pkg.CPEs = appendNew(pkg.CPEs, id.ConcludedValue)
		}
	}
	return pkg
}

// identityEvidence returns the identity evidence of a component. CycloneDX
// 1.5 writes it as one object, and 1.6 and 1.7 as an array or, deprecated,
// as one object. Only 1.6 and later define concludedValue.
func identityEvidence(c cdx.Component) []cdx.EvidenceIdentity {
	if c.Evidence == nil || c.Evidence.Identity == nil {
		return nil
	}
	id := c.Evidence.Identity
	switch {
	case id.Identities != nil:
		return *id.Identities
	case id.Identity != nil:
		return []cdx.EvidenceIdentity{*id.Identity}
	}
	return nil
}

// appendNew appends s to list unless s is blank or already in list.
func appendNew(list []string, s string) []string {
	if strings.TrimSpace(s) == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// packageVersion returns an SBOM's version field without surrounding
// spaces, or "" for NOASSERTION and NONE. SPDX tools write those in
// versionInfo when they do not know the version, and looking them up as
// versions would match no record, or records listing such a string.
func packageVersion(v string) string {
	v = strings.TrimSpace(v)
	if v == "NOASSERTION" || v == "NONE" {
		return ""
	}
	return v
}
