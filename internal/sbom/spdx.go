package sbom

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_1"
	"github.com/spdx/tools-golang/spdx/v2/v2_2"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// spdxDocumentTypes are the tools-golang document types of the SPDX
// versions that this stella reads, by spdxVersion.
var spdxDocumentTypes = map[string]reflect.Type{
	v2_1.Version: reflect.TypeFor[v2_1.Document](),
	v2_2.Version: reflect.TypeFor[v2_2.Document](),
	v2_3.Version: reflect.TypeFor[v2_3.Document](),
}

// spdxExtras contains the member that the UnmarshalJSON methods of the
// tools-golang 2.2 and 2.3 document types read besides the type's fields.
type spdxExtras struct {
	DocumentDescribes []common.DocElementID `json:"documentDescribes"`
}

// parseSPDX returns the format and packages of the SPDX document doc,
// whose top level is top and whose spdxVersion is version. It
// checks the document as tools-golang's json.Read does: every number must
// fit a float64, and every field must decode into the library's document
// type of the version.
func parseSPDX(ctx context.Context, doc *document, top topLevel, version string) (string, []Package, error) {
	if n := top.overflow; n != "" {
		// tools-golang first decodes the document into an interface
		// value, which fails on such a number.
		return "", nil, spdxError(&json.UnmarshalTypeError{Value: "number " + n, Type: reflect.TypeFor[float64]()})
	}
	docType, ok := spdxDocumentTypes[version]
	if !ok {
		return "", nil, fmt.Errorf("SBOM has spdxVersion %q, which is not an SPDX 2 version this stella reads (SPDX-2.1 to SPDX-2.3); %s",
			version, exportHint)
	}

	pkgs := []Package{}
	addPackage := func(p reflect.Value) {
		if pkg, ok := spdxPackage(p.Interface()); ok {
			pkgs = append(pkgs, pkg)
		}
	}
	d := documentDecoder{
		doc:         reflect.New(docType).Elem(),
		checkOthers: true,
		elementHandlers: map[string]func(reflect.Value){
			"packages": func(element reflect.Value) { addPackage(element.Elem()) },
		},
	}
	if err := d.decodeMembers(ctx, doc, top.members); err != nil {
		return "", nil, spdxError(err)
	}
	if version != v2_1.Version {
		// The 2.2 and 2.3 document types read documentDescribes once
		// the rest of the document is decoded.
		var extras spdxExtras
		e := documentDecoder{doc: reflect.ValueOf(&extras).Elem()}
		if err := e.decodeMembers(ctx, doc, top.members); err != nil {
			return "", nil, spdxError(err)
		}
	}

	// Packages that occur in more than one "packages" member are
	// decoded into the document instead of being passed to addPackage.
	stored := d.doc.FieldByName("Packages")
	for i := range stored.Len() {
		addPackage(stored.Index(i))
	}
	// tools-golang converts 2.1 and 2.2 documents to 2.3, which sets
	// spdxVersion to SPDX-2.3.
	format := FormatSPDX + "-2.3"
	if version == v2_3.Version {
		format = FormatSPDX + "-" + strings.TrimPrefix(d.doc.FieldByName("SPDXVersion").String(), "SPDX-")
	}
	return format, pkgs, nil
}

// spdxError returns the error for a document that does not decode into
// the SPDX library's types.
func spdxError(err error) error {
	if ctxErr := contextError(err); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("parsing SPDX JSON: %v; check that the document follows the SPDX 2.2 or 2.3 JSON schema, or %s",
		decodeProblem(err), exportHint)
}

// spdxPackage returns p, a package of the tools-golang types of SPDX 2.1,
// 2.2 or 2.3, as a Package. It returns false for a null package, and for
// a 2.1 or 2.2 package whose fields are all empty, which the conversion
// to 2.3 drops.
func spdxPackage(p any) (Package, bool) {
	switch p := p.(type) {
	case *v2_3.Package:
		if p == nil {
			return Package{}, false
		}
		return newSPDXPackage(p.PackageName, p.PackageVersion, p.PackageSPDXIdentifier, p.PackageExternalReferences), true
	case *v2_2.Package:
		if p == nil || reflect.ValueOf(*p).IsZero() {
			return Package{}, false
		}
		return newSPDXPackage(p.PackageName, p.PackageVersion, p.PackageSPDXIdentifier, p.PackageExternalReferences), true
	case *v2_1.Package:
		if p == nil || reflect.ValueOf(*p).IsZero() {
			return Package{}, false
		}
		return newSPDXPackage(p.PackageName, p.PackageVersion, p.PackageSPDXIdentifier, p.PackageExternalReferences), true
	default:
		panic(fmt.Sprintf("sbom: %T is not an SPDX package type", p))
	}
}

// spdxExternalRef is the external reference type of the tools-golang SPDX
// 2.1, 2.2 and 2.3 packages. The three have the same fields, so each
// converts to the 2.3 type.
type spdxExternalRef interface {
	v2_1.PackageExternalReference | v2_2.PackageExternalReference | v2_3.PackageExternalReference
}

// newSPDXPackage builds a Package from the fields of an SPDX package. Its
// purls are the locators of the purl references and its CPEs those of the
// CPE 2.2 and 2.3 references, without blank locators or repeats.
func newSPDXPackage[R spdxExternalRef](name, version string, id common.ElementID, refs []*R) Package {
	pkg := Package{Name: name, Version: packageVersion(version), ID: "SPDXRef-" + string(id)}
	for _, r := range refs {
		if r == nil {
			continue
		}
		ref := v2_3.PackageExternalReference(*r)
		switch ref.RefType {
		case common.TypePackageManagerPURL:
			pkg.PURLs = appendNew(pkg.PURLs, ref.Locator)
		case common.TypeSecurityCPE23Type, common.TypeSecurityCPE22Type:
			pkg.CPEs = appendNew(pkg.CPEs, ref.Locator)
		}
	}
	return pkg
}
