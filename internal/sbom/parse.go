package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"stella-ops.org/ouk/internal/errdef"
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
	// Version is the package version; it may be empty.
	Version string
	// PURL is the package URL, or empty when the SBOM gives none. With
	// several purls in an SPDX package, the first is used.
	PURL string
	// CPEs are the CPE 2.3 names (or CPE 2.2 URIs) given for the package.
	CPEs []string
	// ID is the SPDX identifier ("SPDXRef-…") or the CycloneDX bom-ref.
	ID string
}

// Parse reads an SPDX JSON or CycloneDX JSON document and returns its
// format (FormatSPDX or FormatCycloneDX, followed by "-" and the spec
// version, such as "spdx-2.3" or "cyclonedx-1.6") and its packages. The
// format is detected by the top-level "spdxVersion" or "bomFormat" field.
// SPDX 2.1 and 2.2 documents are read too, converted to 2.3. CycloneDX
// components nested in other components are included, and so is the
// metadata component when it has a purl or a CPE. Input over MaxSBOMSize
// wraps errdef.ErrSizeExceedsLimit.
func Parse(r io.Reader) (format string, pkgs []Package, err error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSBOMSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("reading SBOM: %w", err)
	}
	if len(raw) > MaxSBOMSize {
		return "", nil, fmt.Errorf("SBOM is larger than %d bytes; split it or scan the image directly: %w",
			MaxSBOMSize, errdef.ErrSizeExceedsLimit)
	}

	var probe struct {
		SPDXVersion *string `json:"spdxVersion"`
		BOMFormat   *string `json:"bomFormat"`
		SpecVersion *string `json:"specVersion"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", nil, fmt.Errorf("SBOM is neither SPDX 2.3 JSON nor CycloneDX JSON: %w", err)
	}
	switch {
	case probe.SPDXVersion != nil:
		return parseSPDX(raw)
	case probe.BOMFormat != nil:
		if *probe.BOMFormat != "CycloneDX" {
			return "", nil, fmt.Errorf("SBOM is neither SPDX 2.3 JSON nor CycloneDX JSON: bomFormat is %q, expected \"CycloneDX\"",
				*probe.BOMFormat)
		}
		return parseCycloneDX(raw)
	default:
		return "", nil, errors.New(`SBOM is neither SPDX 2.3 JSON nor CycloneDX JSON: no "spdxVersion" or "bomFormat" field found; export the SBOM as SPDX JSON or CycloneDX JSON`)
	}
}

func parseSPDX(raw []byte) (string, []Package, error) {
	doc, err := spdxjson.Read(bytes.NewReader(raw))
	if err != nil {
		return "", nil, fmt.Errorf("parsing SPDX JSON: %w", err)
	}
	if doc == nil {
		return "", nil, errors.New("parsing SPDX JSON: document is empty")
	}
	format := FormatSPDX + "-" + strings.TrimPrefix(doc.SPDXVersion, "SPDX-")

	pkgs := make([]Package, 0, len(doc.Packages))
	for _, p := range doc.Packages {
		if p == nil {
			continue
		}
		pkg := Package{
			Name:    p.PackageName,
			Version: p.PackageVersion,
			ID:      "SPDXRef-" + string(p.PackageSPDXIdentifier),
		}
		for _, ref := range p.PackageExternalReferences {
			if ref == nil {
				continue
			}
			switch {
			case ref.RefType == common.TypePackageManagerPURL && pkg.PURL == "":
				pkg.PURL = ref.Locator
			case ref.RefType == common.TypeSecurityCPE23Type || ref.RefType == common.TypeSecurityCPE22Type:
				pkg.CPEs = append(pkg.CPEs, ref.Locator)
			}
		}
		pkgs = append(pkgs, pkg)
	}
	return format, pkgs, nil
}

func parseCycloneDX(raw []byte) (string, []Package, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(raw), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return "", nil, fmt.Errorf("parsing CycloneDX JSON: %w", err)
	}
	format := FormatCycloneDX + "-" + bom.SpecVersion.String()

	var pkgs []Package
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		if c := bom.Metadata.Component; c.PackageURL != "" || c.CPE != "" {
			pkgs = append(pkgs, componentPackage(*c))
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

func componentPackage(c cdx.Component) Package {
	pkg := Package{Name: c.Name, Version: c.Version, PURL: c.PackageURL, ID: c.BOMRef}
	if c.CPE != "" {
		pkg.CPEs = []string{c.CPE}
	}
	return pkg
}
