package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"stella-ops.org/ouk/internal/errdef"
)

// legacyParse is Parse as it was before it decoded the document one
// member and element at a time. It decodes the whole document with
// tools-golang's json.Read or cyclonedx-go's decoder. The differential
// tests and the benchmark compare Parse with it.
func legacyParse(r io.Reader) (format string, pkgs []Package, err error) {
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
		return "", nil, invalidJSONError(err)
	}
	var bomFormat string
	switch {
	case probe["spdxVersion"] != nil:
		var v string
		if json.Unmarshal(probe["spdxVersion"], &v) != nil || !strings.HasPrefix(v, "SPDX-2.") {
			return "", nil, fmt.Errorf("SBOM has spdxVersion %s, which is not an SPDX 2 version this stella reads (SPDX-2.1 to SPDX-2.3); %s",
				probe["spdxVersion"], exportHint)
		}
		return legacyParseSPDX(raw)
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
		return legacyParseCycloneDX(raw, specVersion)
	default:
		return "", nil, fmt.Errorf(`SBOM is not an SPDX or CycloneDX JSON document, because it has no "spdxVersion" or "bomFormat" field; %s`,
			exportHint)
	}
}

func legacyParseSPDX(raw []byte) (string, []Package, error) {
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

func legacyParseCycloneDX(raw []byte, specVersion string) (string, []Package, error) {
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
		pkgs = legacyAppendComponents(pkgs, *bom.Components)
	}
	return format, pkgs, nil
}

// legacyAppendComponents walks nested components depth first. The recursion is
// bounded by encoding/json, which rejects input nested over 10000 levels.
func legacyAppendComponents(pkgs []Package, comps []cdx.Component) []Package {
	for _, c := range comps {
		pkgs = append(pkgs, componentPackage(c))
		if c.Components != nil {
			pkgs = legacyAppendComponents(pkgs, *c.Components)
		}
	}
	return pkgs
}
