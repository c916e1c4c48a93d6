package sbom

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// parseCycloneDX returns the format and packages of the CycloneDX
// document doc, whose top-level members are members and whose specVersion
// is specVersion. Every field must decode into cyclonedx-go's BOM type.
func parseCycloneDX(ctx context.Context, doc *document, members []member, specVersion string) (string, []Package, error) {
	var components []Package
	var bom cdx.BOM
	d := documentDecoder{
		doc:         reflect.ValueOf(&bom).Elem(),
		checkOthers: true,
		elementHandlers: map[string]func(reflect.Value){
			"components": func(element reflect.Value) {
				components = appendComponent(components, *element.Interface().(*cdx.Component))
			},
		},
	}
	if err := d.decodeMembers(ctx, doc, members); err != nil {
		if ctxErr := contextError(err); ctxErr != nil {
			return "", nil, ctxErr
		}
		return "", nil, fmt.Errorf("parsing CycloneDX JSON: %v; check that the document follows the CycloneDX %s JSON schema, or %s",
			decodeProblem(err), specVersion, exportHint)
	}
	format := FormatCycloneDX + "-" + bom.SpecVersion.String()

	pkgs := components
	// Components that occur in more than one "components" member are
	// decoded into the BOM instead of being passed to the handler.
	if bom.Components != nil {
		for _, c := range *bom.Components {
			pkgs = appendComponent(pkgs, c)
		}
	}
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		if pkg := componentPackage(*bom.Metadata.Component); len(pkg.PURLs) > 0 || len(pkg.CPEs) > 0 {
			pkgs = slices.Insert(pkgs, 0, pkg)
		}
	}
	return format, pkgs, nil
}

// appendComponent appends c and the components nested in it, depth
// first. The recursion is bounded by encoding/json, which (as of Go 1.26)
// rejects input nested over 10000 levels.
func appendComponent(pkgs []Package, c cdx.Component) []Package {
	pkgs = append(pkgs, componentPackage(c))
	if c.Components != nil {
		for _, nested := range *c.Components {
			pkgs = appendComponent(pkgs, nested)
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
