package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	packageurl "github.com/package-url/packageurl-go"

	"stella-ops.org/ouk/internal/errdef"
)

// sharedSPDX returns the path of the real SPDX document in the shared
// testdata folder, or skips the test when it is absent.
func sharedSPDX(t testing.TB) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "testdata", "spdx", "bitnami-postgresql.spdx.json")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared SPDX testdata not found at %s: %v", p, err)
	}
	return p
}

const testCycloneDX = "testdata/scanner.cdx.json"

func testContents() KitContents {
	return KitContents{
		Version: "2025.03.01",
		DB: DBInfo{
			Digest:  "sha256:" + strings.Repeat("ab", 32),
			Records: 1234,
			Sources: []string{"osv", "ghsa"},
		},
		Images: []ImageInfo{
			{Ref: "registry.example:5000/stella-ops/zastava:0.1.0", Digest: "sha256:" + strings.Repeat("02", 32), Platforms: []string{"linux/arm64", "linux/amd64"}},
			{Ref: "registry.example/stella-ops/scanner:0.1.0", Digest: "sha256:" + strings.Repeat("01", 32), Platforms: []string{"linux/amd64"}},
		},
	}
}

var testCreated = time.Date(2025, 3, 1, 13, 4, 5, 999, time.FixedZone("CET", 3600))

func TestGenerateSPDXDeterministic(t *testing.T) {
	in := testContents()
	a, err := GenerateSPDX(in, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	in.Images[0], in.Images[1] = in.Images[1], in.Images[0]
	b, err := GenerateSPDX(in, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("output depends on image order:\n%s\n---\n%s", a, b)
	}

	in.DB.Records++
	c, err := GenerateSPDX(in, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	if docNamespace(t, a) == docNamespace(t, c) {
		t.Error("different contents share a document namespace")
	}
}

func docNamespace(t *testing.T, raw []byte) string {
	t.Helper()
	var doc struct{ DocumentNamespace string }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.DocumentNamespace
}

func TestGenerateSPDXContent(t *testing.T) {
	raw, err := GenerateSPDX(testContents(), testCreated)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion       string `json:"spdxVersion"`
		Name              string `json:"name"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      struct{ Created string }
		Packages          []struct {
			SPDXID       string `json:"SPDXID"`
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			Comment      string `json:"comment"`
			Checksums    []struct{ Algorithm, ChecksumValue string }
			ExternalRefs []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }
		}
		Relationships []struct {
			SPDXElementID      string `json:"spdxElementId"`
			RelationshipType   string `json:"relationshipType"`
			RelatedSPDXElement string `json:"relatedSpdxElement"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}

	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion = %q", doc.SPDXVersion)
	}
	if doc.Name != "stella-ouk-2025.03.01" {
		t.Errorf("name = %q", doc.Name)
	}
	if !strings.HasPrefix(doc.DocumentNamespace, "https://stella-ops.org/spdx/ouk/2025.03.01-") ||
		len(doc.DocumentNamespace) != len("https://stella-ops.org/spdx/ouk/2025.03.01-")+12 {
		t.Errorf("documentNamespace = %q", doc.DocumentNamespace)
	}
	if doc.CreationInfo.Created != "2025-03-01T12:04:05Z" {
		t.Errorf("created = %q, want 2025-03-01T12:04:05Z", doc.CreationInfo.Created)
	}
	if len(doc.Packages) != 4 {
		t.Fatalf("got %d packages, want 4", len(doc.Packages))
	}

	db := doc.Packages[1]
	if len(db.Checksums) != 1 || db.Checksums[0].Algorithm != "SHA256" || db.Checksums[0].ChecksumValue != strings.Repeat("ab", 32) {
		t.Errorf("DB checksums = %+v", db.Checksums)
	}
	if !strings.Contains(db.Comment, "1234 vulnerability records") || !strings.Contains(db.Comment, "ghsa, osv") {
		t.Errorf("DB comment = %q", db.Comment)
	}

	scanner := doc.Packages[2]
	if len(scanner.ExternalRefs) != 1 || scanner.ExternalRefs[0].ReferenceCategory != "PACKAGE-MANAGER" ||
		scanner.ExternalRefs[0].ReferenceType != "purl" {
		t.Fatalf("scanner externalRefs = %+v, want one purl", scanner.ExternalRefs)
	}
	checkPURL(t, scanner.ExternalRefs[0].ReferenceLocator, "scanner", "sha256:"+strings.Repeat("01", 32),
		map[string]string{"repository_url": "registry.example/stella-ops/scanner", "tag": "0.1.0"})

	zastava := doc.Packages[3]
	if zastava.Name != "zastava" || !strings.Contains(zastava.Comment, "linux/amd64, linux/arm64") {
		t.Errorf("zastava package = %+v", zastava)
	}
	checkPURL(t, zastava.ExternalRefs[0].ReferenceLocator, "zastava", "sha256:"+strings.Repeat("02", 32),
		map[string]string{"repository_url": "registry.example:5000/stella-ops/zastava", "tag": "0.1.0"})

	want := []string{
		"SPDXRef-DOCUMENT DESCRIBES SPDXRef-kit",
		"SPDXRef-kit CONTAINS SPDXRef-vulnerability-db",
		"SPDXRef-kit CONTAINS " + scanner.SPDXID,
		"SPDXRef-kit CONTAINS " + zastava.SPDXID,
	}
	var got []string
	for _, r := range doc.Relationships {
		got = append(got, r.SPDXElementID+" "+r.RelationshipType+" "+r.RelatedSPDXElement)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("relationships = %q, want %q", got, want)
	}
}

func TestGenerateSPDXParsesBack(t *testing.T) {
	raw, err := GenerateSPDX(testContents(), testCreated)
	if err != nil {
		t.Fatal(err)
	}
	format, pkgs, err := Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if format != "spdx-2.3" {
		t.Errorf("format = %q", format)
	}
	if len(pkgs) != 4 || len(pkgs[2].PURLs) != 1 || !strings.HasPrefix(pkgs[2].PURLs[0], "pkg:oci/scanner@") {
		t.Errorf("packages = %+v", pkgs)
	}
}

func TestGenerateSPDXRejects(t *testing.T) {
	cases := map[string]func(*KitContents){
		"no version":       func(k *KitContents) { k.Version = "" },
		"bad DB digest":    func(k *KitContents) { k.DB.Digest = "sha256:nothex" },
		"bad image digest": func(k *KitContents) { k.Images[0].Digest = "latest" },
		"no image ref":     func(k *KitContents) { k.Images[0].Ref = "" },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			in := testContents()
			edit(&in)
			if _, err := GenerateSPDX(in, testCreated); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestParseSPDXRealDocument(t *testing.T) {
	f, err := os.Open(sharedSPDX(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	format, pkgs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != "spdx-2.3" {
		t.Errorf("format = %q", format)
	}
	var pg *Package
	for i := range pkgs {
		if pkgs[i].ID == "SPDXRef-postgresql" {
			pg = &pkgs[i]
		}
	}
	if pg == nil {
		t.Fatalf("SPDXRef-postgresql not among %+v", pkgs)
	}
	if pg.Name != "PostgreSQL" || pg.Version != "15.3.0" {
		t.Errorf("package = %+v", pg)
	}
	if want := []string{"pkg:bitnami/postgresql@15.3.0"}; !reflect.DeepEqual(pg.PURLs, want) {
		t.Errorf("purls = %q, want %q", pg.PURLs, want)
	}
	if want := []string{"cpe:2.3:*:postgresql:postgresql:15.3.0:*:*:*:*:*:*:*"}; !reflect.DeepEqual(pg.CPEs, want) {
		t.Errorf("CPEs = %q, want %q", pg.CPEs, want)
	}
}

func TestParseCycloneDX(t *testing.T) {
	f, err := os.Open(testCycloneDX)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	format, pkgs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != "cyclonedx-1.5" {
		t.Errorf("format = %q", format)
	}
	want := []Package{
		{Name: "scanner-web", Version: "2.4.0", PURLs: []string{"pkg:npm/scanner-web@2.4.0"}, ID: "root-app"},
		{Name: "lodash", Version: "4.17.20", PURLs: []string{"pkg:npm/lodash@4.17.20"},
			CPEs: []string{"cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:node.js:*:*"}, ID: "pkg:npm/lodash@4.17.20"},
		{Name: "log4j-core", Version: "2.14.1", PURLs: []string{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
			ID: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
		{Name: "log4j-api", Version: "2.14.1", PURLs: []string{"pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1"},
			ID: "pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1"},
		{Name: "openssl", Version: "3.0.2-0ubuntu1.10",
			PURLs: []string{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10?arch=amd64&distro=ubuntu-22.04"}, ID: "os-openssl"},
	}
	if !reflect.DeepEqual(pkgs, want) {
		t.Errorf("packages:\n got %+v\nwant %+v", pkgs, want)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"not json":        "<bom/>",
		"neither":         `{"name":"x"}`,
		"other bomFormat": `{"bomFormat":"Other","specVersion":"1.5"}`,
		"bad spdx":        `{"spdxVersion":"SPDX-9.9"}`,
		"bad cyclonedx":   `{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Parse(strings.NewReader(in)); err == nil {
				t.Fatal("no error")
			}
		})
	}

	_, _, err := Parse(strings.NewReader(`{"name":"x"}`))
	if err == nil || !strings.Contains(err.Error(), "not an SPDX or CycloneDX JSON document") {
		t.Errorf("message = %v", err)
	}
}

func TestParseSizeLimit(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"bomFormat":"CycloneDX","x":"`), zeroReader{}, strings.NewReader(`"}`))
	_, _, err := Parse(io.LimitReader(r, MaxSBOMSize+100))
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{testCycloneDX, filepath.Join("..", "..", "..", "shared", "testdata", "spdx", "bitnami-postgresql.spdx.json")} {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	if raw, err := GenerateSPDX(testContents(), testCreated); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"a","components":[{"name":"b"}]}]}`))
	f.Add([]byte(cycloneDX17))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.2","SPDXID":"SPDXRef-DOCUMENT"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		format, pkgs, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if !strings.HasPrefix(format, FormatSPDX+"-") && !strings.HasPrefix(format, FormatCycloneDX+"-") {
			t.Errorf("format = %q", format)
		}
		_ = pkgs
	})
}

func checkPURL(t *testing.T, s, name, version string, qualifiers map[string]string) {
	t.Helper()
	p, err := packageurl.FromString(s)
	if err != nil {
		t.Fatalf("purl %q: %v", s, err)
	}
	if p.Type != "oci" || p.Name != name || p.Version != version {
		t.Errorf("purl %q = type %q name %q version %q, want oci %q %q", s, p.Type, p.Name, p.Version, name, version)
	}
	if got := p.Qualifiers.Map(); !reflect.DeepEqual(got, qualifiers) {
		t.Errorf("purl %q qualifiers = %v, want %v", s, got, qualifiers)
	}
}

func TestParseErrorMessages(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content, want string
	}{
		{"empty.json", "", "SBOM is empty"},
		{"blank.json", " \n", "SBOM is empty"},
		{"array.json", "[]", "not an SPDX or CycloneDX JSON document"},
		{"number.json", "42", "not an SPDX or CycloneDX JSON document"},
		{"xml.json", "<bom/>", "not an SPDX or CycloneDX JSON document"},
		{"truncated.json", `{"spdxVersion":"SPDX-2.3",`, "may be truncated"},
		{"wrongtype.json", `{"spdxVersion":"SPDX-2.3","packages":{}}`, "parsing SPDX JSON"},
		{"cdxwrongtype.json", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}`, "parsing CycloneDX JSON"},
		{"deep.json", `{"bomFormat":"CycloneDX","specVersion":"1.5","x":` + strings.Repeat("[", 10050) +
			strings.Repeat("]", 10050) + `}`, "SBOM cannot be read (the document nests its values more than 10000"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ParseFile(path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %q lacks %q", c.name, msg, c.want)
		}
		if !strings.Contains(msg, "export the SBOM as") {
			t.Errorf("%s: message %q gives no next step", c.name, msg)
		}
		if strings.Contains(msg, "Go value") || strings.Contains(msg, "struct {") {
			t.Errorf("%s: message %q names Go types", c.name, msg)
		}
		if strings.Count(msg, "SBOM") > 3 {
			t.Errorf("%s: message %q repeats its prefix", c.name, msg)
		}
	}

	_, _, err := ParseFile(dir)
	if err == nil || err.Error() != "SBOM path "+dir+" is a folder; give the SBOM file in it" {
		t.Errorf("folder: message = %v", err)
	}
}

// cycloneDX12 is a CycloneDX 1.2 JSON BOM written for this test, with the
// fields of that version that later ones changed or dropped: a tools list
// in the metadata and "modified" on components.
const cycloneDX12 = `{
  "bomFormat": "CycloneDX",
  "specVersion": "%s",
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "version": 1,
  "metadata": {
    "timestamp": "2020-08-03T03:20:53.771Z",
    "tools": [{"vendor": "Example", "name": "bom-writer", "version": "0.9"}],
    "component": {"type": "application", "bom-ref": "app", "name": "shop", "version": "2.0.0",
      "purl": "pkg:npm/shop@2.0.0"}
  },
  "components": [
    {"type": "library", "bom-ref": "pkg:npm/lodash@4.17.20", "name": "lodash", "version": "4.17.20",
     "purl": "pkg:npm/lodash@4.17.20", "modified": false,
     "hashes": [{"alg": "SHA-256", "content": "b5bd6a8e1e1d5e2c0ab6b4c9a2ab4d6e5c8f7a1b2c3d4e5f60718293a4b5c6d7"}],
     "licenses": [{"license": {"id": "MIT"}}],
     "components": [
       {"type": "library", "bom-ref": "nested", "name": "lodash.merge", "version": "4.6.1",
        "cpe": "cpe:2.3:a:lodash:lodash:4.6.1:*:*:*:*:*:*:*", "modified": false}
     ]}
  ],
  "dependencies": [{"ref": "app", "dependsOn": ["pkg:npm/lodash@4.17.20"]}]
}`

func TestParseCycloneDX12And13(t *testing.T) {
	want := []Package{
		{Name: "shop", Version: "2.0.0", PURLs: []string{"pkg:npm/shop@2.0.0"}, ID: "app"},
		{Name: "lodash", Version: "4.17.20", PURLs: []string{"pkg:npm/lodash@4.17.20"}, ID: "pkg:npm/lodash@4.17.20"},
		{Name: "lodash.merge", Version: "4.6.1", CPEs: []string{"cpe:2.3:a:lodash:lodash:4.6.1:*:*:*:*:*:*:*"}, ID: "nested"},
	}
	for _, version := range []string{"1.2", "1.3"} {
		format, pkgs, err := Parse(strings.NewReader(fmt.Sprintf(cycloneDX12, version)))
		if err != nil {
			t.Fatalf("CycloneDX %s: %v", version, err)
		}
		if format != "cyclonedx-"+version {
			t.Errorf("CycloneDX %s: format %q", version, format)
		}
		if !reflect.DeepEqual(pkgs, want) {
			t.Errorf("CycloneDX %s packages:\n got %+v\nwant %+v", version, pkgs, want)
		}
	}
}

// cycloneDX17 is a CycloneDX 1.7 JSON BOM written for this test. Its
// components have purls and CPEs, and it has fields that 1.7 added: an
// external component with a versionRange in place of a version, identity
// evidence with a concludedValue, license expressionDetails, metadata
// distributionConstraints and citations.
const cycloneDX17 = `{
  "$schema": "http://cyclonedx.org/schema/bom-1.7.schema.json",
  "bomFormat": "CycloneDX",
  "specVersion": "1.7",
  "serialNumber": "urn:uuid:6a1f4c2e-8d3b-4e57-9b0a-2c7d5e1f3a98",
  "version": 1,
  "metadata": {
    "timestamp": "2026-11-30T10:00:00Z",
    "tools": {"components": [{"type": "application", "name": "bom-writer", "version": "3.1.0"}]},
    "component": {"type": "container", "bom-ref": "image", "name": "shop-image", "version": "2.0.0",
      "purl": "pkg:oci/shop-image@sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    "distributionConstraints": {"tlp": "CLEAR"}
  },
  "components": [
    {"type": "library", "bom-ref": "pkg:npm/lodash@4.17.20", "name": "lodash", "version": "4.17.20",
     "purl": "pkg:npm/lodash@4.17.20", "cpe": "cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:node.js:*:*",
     "licenses": [{"expression": "MIT", "expressionDetails": [{"licenseIdentifier": "MIT"}]}],
     "evidence": {"identity": [{"field": "purl", "confidence": 1, "concludedValue": "pkg:npm/lodash@4.17.20",
       "methods": [{"technique": "manifest-analysis", "confidence": 1, "value": "package-lock.json"}]}]},
     "components": [
       {"type": "library", "bom-ref": "nested", "name": "lodash.merge", "version": "4.6.1",
        "cpe": "cpe:2.3:a:lodash:lodash.merge:4.6.1:*:*:*:*:*:*:*"}
     ]},
    {"type": "library", "bom-ref": "os-openssl", "name": "openssl", "version": "3.0.2-0ubuntu1.10",
     "purl": "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10?arch=amd64&distro=ubuntu-22.04"},
    {"type": "library", "bom-ref": "external-glibc", "name": "glibc", "isExternal": true,
     "versionRange": "vers:deb/>=2.35", "purl": "pkg:deb/ubuntu/glibc"}
  ],
  "dependencies": [{"ref": "image", "dependsOn": ["pkg:npm/lodash@4.17.20", "os-openssl", "external-glibc"]}],
  "citations": [{"bom-ref": "citation-1", "pointers": ["/components/0/licenses"],
    "timestamp": "2026-11-30T10:00:00Z", "attributedTo": "image"}]
}`

func TestParseCycloneDX17(t *testing.T) {
	format, pkgs, err := Parse(strings.NewReader(cycloneDX17))
	if err != nil {
		t.Fatal(err)
	}
	if format != "cyclonedx-1.7" {
		t.Errorf("format = %q, want cyclonedx-1.7", format)
	}
	want := []Package{
		{Name: "shop-image", Version: "2.0.0",
			PURLs: []string{"pkg:oci/shop-image@sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, ID: "image"},
		{Name: "lodash", Version: "4.17.20", PURLs: []string{"pkg:npm/lodash@4.17.20"},
			CPEs: []string{"cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:node.js:*:*"}, ID: "pkg:npm/lodash@4.17.20"},
		{Name: "lodash.merge", Version: "4.6.1", CPEs: []string{"cpe:2.3:a:lodash:lodash.merge:4.6.1:*:*:*:*:*:*:*"}, ID: "nested"},
		{Name: "openssl", Version: "3.0.2-0ubuntu1.10",
			PURLs: []string{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10?arch=amd64&distro=ubuntu-22.04"}, ID: "os-openssl"},
		{Name: "glibc", PURLs: []string{"pkg:deb/ubuntu/glibc"}, ID: "external-glibc", VersionRange: "vers:deb/>=2.35"},
	}
	if !reflect.DeepEqual(pkgs, want) {
		t.Errorf("packages:\n got %+v\nwant %+v", pkgs, want)
	}
}

func TestParseRejectsCycloneDXVersion(t *testing.T) {
	cases := map[string]string{
		"1.1 (XML only)": `{"bomFormat":"CycloneDX","specVersion":"1.1","components":[]}`,
		"1.8":            `{"bomFormat":"CycloneDX","specVersion":"1.8","components":[]}`,
		"number":         `{"bomFormat":"CycloneDX","specVersion":1.5,"components":[]}`,
		"missing":        `{"bomFormat":"CycloneDX","components":[]}`,
	}
	for name, in := range cases {
		_, _, err := Parse(strings.NewReader(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), "specVersion") {
			t.Errorf("%s: message %q does not name specVersion", name, err)
		}
		if !strings.Contains(err.Error(), "CycloneDX 1.2-1.7 JSON") {
			t.Errorf("%s: message %q does not name the versions read", name, err)
		}
	}

	_, _, err := Parse(strings.NewReader(cases["1.8"]))
	if err == nil {
		t.Fatal("specVersion 1.8 accepted")
	}
	if !strings.Contains(err.Error(), `specVersion "1.8"`) {
		t.Errorf("message %q does not name the specVersion found", err)
	}
	if !strings.Contains(err.Error(), "(1.2, 1.3, 1.4, 1.5, 1.6, 1.7)") {
		t.Errorf("message %q does not list the accepted versions", err)
	}

	_, _, err = Parse(strings.NewReader(cases["number"]))
	if err == nil || !strings.Contains(err.Error(), `as a number`) || !strings.Contains(err.Error(), `"specVersion": "1.5"`) {
		t.Errorf("specVersion as a number: message %v does not say to quote it", err)
	}
}

func TestParseRejectsSPDXVersion(t *testing.T) {
	cases := map[string]struct{ doc, want string }{
		"SPDX 3 tag":     {`{"spdxVersion":"SPDX-3.0","SPDXID":"SPDXRef-DOCUMENT"}`, `spdxVersion "SPDX-3.0"`},
		"number":         {`{"spdxVersion":2.3}`, "spdxVersion 2.3"},
		"SPDX 3 JSON-LD": {`{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[]}`, "SPDX 3 JSON-LD"},
	}
	for name, c := range cases {
		_, _, err := Parse(strings.NewReader(c.doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "SPDX 2.2/2.3 JSON") {
			t.Errorf("%s: message %q does not name %q and the versions read", name, err, c.want)
		}
		if strings.Contains(err.Error(), "SDPX") {
			t.Errorf("%s: message %q has the library's misspelling", name, err)
		}
	}
}

func TestParseSkipsByteOrderMark(t *testing.T) {
	doc := "\xef\xbb\xbf" + `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"lodash","version":"4.17.20","purl":"pkg:npm/lodash@4.17.20"}]}`
	format, pkgs, err := Parse(strings.NewReader(doc))
	if err != nil || len(pkgs) != 1 || !strings.HasPrefix(format, "cyclonedx") {
		t.Errorf("Parse of a CycloneDX file with a byte order mark = %q, %d packages, %v", format, len(pkgs), err)
	}
}

func TestParseTreatsPlaceholderVersionAsNone(t *testing.T) {
	spdx := `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"v",
"documentNamespace":"https://stella-ops.org/spdx/v","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: t"]},
"packages":[
{"SPDXID":"SPDXRef-a","name":"a","versionInfo":"NOASSERTION","downloadLocation":"NOASSERTION"},
{"SPDXID":"SPDXRef-b","name":"b","versionInfo":"NONE","downloadLocation":"NOASSERTION"},
{"SPDXID":"SPDXRef-c","name":"c","versionInfo":" 1.2 ","downloadLocation":"NOASSERTION"},
{"SPDXID":"SPDXRef-d","name":"d","downloadLocation":"NOASSERTION"}]}`
	cdx := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
{"type":"library","name":"a","version":""},{"type":"library","name":"b","version":"  "},
{"type":"library","name":"c","version":"1.2"}]}`
	for name, doc := range map[string]string{"SPDX": spdx, "CycloneDX": cdx} {
		_, pkgs, err := Parse(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range pkgs {
			want := ""
			if p.Name == "c" {
				want = "1.2"
			}
			if p.Version != want {
				t.Errorf("%s package %s: version %q, want %q", name, p.Name, p.Version, want)
			}
		}
	}
}

func TestParseSPDXEveryPURL(t *testing.T) {
	doc := `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"mixed",
"documentNamespace":"https://spdx.example.test/mixed",
"creationInfo":{"created":"2026-12-01T00:00:00Z","creators":["Tool: hand-written"]},
"packages":[{"SPDXID":"SPDXRef-mixed","name":"mixed","versionInfo":"1.26.5","downloadLocation":"NOASSERTION",
 "externalRefs":[
  {"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/urllib3@1.26.5"},
  {"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:python:urllib3:1.26.5:*:*:*:*:*:*:*"},
  {"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
  {"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/urllib3@1.26.5"}]}]}`
	_, pkgs, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 {
		t.Fatalf("packages = %+v, want one", pkgs)
	}
	want := []string{"pkg:pypi/urllib3@1.26.5", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}
	if !reflect.DeepEqual(pkgs[0].PURLs, want) {
		t.Errorf("purls = %q, want %q, each once in document order", pkgs[0].PURLs, want)
	}
	if len(pkgs[0].CPEs) != 1 {
		t.Errorf("CPEs = %q, want the one CPE", pkgs[0].CPEs)
	}
}

func TestParseCycloneDXIdentityEvidence(t *testing.T) {
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,
"metadata":{"component":{"type":"application","bom-ref":"app","name":"app",
  "evidence":{"identity":[{"field":"purl","confidence":0.8,"concludedValue":"pkg:npm/app@1.0.0"}]}}},
"components":[
 {"type":"library","bom-ref":"mixed","name":"mixed","version":"1.26.5","purl":"pkg:pypi/urllib3@1.26.5",
  "evidence":{"identity":[
   {"field":"purl","confidence":1,"concludedValue":"pkg:pypi/urllib3@1.26.5"},
   {"field":"purl","confidence":0.5,"concludedValue":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
   {"field":"cpe","confidence":0.5,"concludedValue":"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*"},
   {"field":"name","confidence":1,"concludedValue":"urllib3"},
   {"field":"purl","confidence":0.2,"methods":[{"technique":"filename","confidence":0.2,"value":"pkg:npm/guess@1.0"}]}]},
  "properties":[{"name":"syft:cpe23","value":"cpe:2.3:a:other:other:1.0:*:*:*:*:*:*:*"}]}]}`
	_, pkgs, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "app", PURLs: []string{"pkg:npm/app@1.0.0"}, ID: "app"},
		{Name: "mixed", Version: "1.26.5",
			PURLs: []string{"pkg:pypi/urllib3@1.26.5", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
			CPEs:  []string{"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*"}, ID: "mixed"},
	}
	if !reflect.DeepEqual(pkgs, want) {
		t.Errorf("packages:\n got %+v\nwant %+v", pkgs, want)
	}

	// CycloneDX 1.6 still allows identity evidence as one object.
	doc16 := `{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[
 {"type":"library","name":"log4j-core","version":"2.14.1",
  "evidence":{"identity":{"field":"purl","confidence":1,"concludedValue":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}}}]}`
	_, pkgs, err = Parse(strings.NewReader(doc16))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || !reflect.DeepEqual(pkgs[0].PURLs, []string{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}) {
		t.Errorf("identity evidence as one object: packages %+v, want the concluded purl", pkgs)
	}
}

func TestGenerateSPDXUniqueIDs(t *testing.T) {
	digestA := "sha256:e0b23bd47d44" + strings.Repeat("1", 52)
	// digestB shares its first 12 hex digits with digestA.
	digestB := "sha256:e0b23bd47d44" + strings.Repeat("2", 52)
	in := KitContents{
		Version: "1.0",
		DB:      DBInfo{Digest: "sha256:" + strings.Repeat("ab", 32)},
		Images: []ImageInfo{
			// One image under three references.
			{Ref: "registry.example/scanner:0.1.0", Digest: digestA},
			{Ref: "registry.example/scanner:latest", Digest: digestA},
			{Ref: "mirror.example/scanner:0.1.0", Digest: digestA},
			{Ref: "registry.example/scanner:0.2.0", Digest: digestB},
			// Names that map to the same ID characters.
			{Ref: "registry.example/foo_bar:1", Digest: digestA},
			{Ref: "registry.example/foo-bar:1", Digest: digestA},
		},
	}
	raw, err := GenerateSPDX(in, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Packages []struct {
			SPDXID string `json:"SPDXID"`
		}
		Relationships []struct {
			RelatedSPDXElement string `json:"relatedSpdxElement"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Packages) != 2+len(in.Images) {
		t.Fatalf("got %d packages, want %d", len(doc.Packages), 2+len(in.Images))
	}
	ids := map[string]bool{}
	for _, p := range doc.Packages {
		if ids[p.SPDXID] {
			t.Errorf("SPDXID %s appears more than once", p.SPDXID)
		}
		ids[p.SPDXID] = true
	}
	related := map[string]bool{}
	for _, r := range doc.Relationships {
		if related[r.RelatedSPDXElement] {
			t.Errorf("relationship to %s appears more than once", r.RelatedSPDXElement)
		}
		related[r.RelatedSPDXElement] = true
	}

	for i, j := 0, len(in.Images)-1; i < j; i, j = i+1, j-1 {
		in.Images[i], in.Images[j] = in.Images[j], in.Images[i]
	}
	reversed, err := GenerateSPDX(in, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, reversed) {
		t.Errorf("SPDX IDs depend on the image order:\n%s\n---\n%s", raw, reversed)
	}
}

// TestGenerateSPDXPackagePurposes checks that every package of the kit's
// SBOM has a primaryPackagePurpose that SPDX 2.3 allows. DATA, for
// example, is not one of them.
func TestGenerateSPDXPackagePurposes(t *testing.T) {
	allowed := map[string]bool{"APPLICATION": true, "FRAMEWORK": true, "LIBRARY": true, "CONTAINER": true,
		"OPERATING-SYSTEM": true, "DEVICE": true, "FIRMWARE": true, "SOURCE": true, "ARCHIVE": true, "FILE": true,
		"INSTALL": true, "OTHER": true}
	in := KitContents{
		Version: "1.0",
		DB:      DBInfo{Digest: "sha256:" + strings.Repeat("ab", 32), Records: 3},
		Images:  []ImageInfo{{Ref: "registry.example/scanner:0.1.0", Digest: "sha256:" + strings.Repeat("cd", 32)}},
	}
	raw, err := GenerateSPDX(in, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Packages []struct {
			SPDXID  string `json:"SPDXID"`
			Purpose string `json:"primaryPackagePurpose"`
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Packages) != 3 {
		t.Fatalf("%d packages, want the kit, the DB and one image", len(doc.Packages))
	}
	for _, p := range doc.Packages {
		if p.Purpose != "" && !allowed[p.Purpose] {
			t.Errorf("package %s has primaryPackagePurpose %q, which SPDX 2.3 does not define", p.SPDXID, p.Purpose)
		}
	}
}

// TestGenerateSPDXCreatorTool checks that the document names the program
// that wrote it, not the kit it describes, as its creator tool.
func TestGenerateSPDXCreatorTool(t *testing.T) {
	for _, tc := range []struct{ release, want string }{
		{"", "Tool: stella"},
		{"v1.4.0", "Tool: stella-v1.4.0"},
	} {
		in := testContents()
		in.ToolVersion = tc.release
		raw, err := GenerateSPDX(in, testCreated)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			CreationInfo struct{ Creators []string }
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if got := doc.CreationInfo.Creators; len(got) != 1 || got[0] != tc.want {
			t.Errorf("release %q: creators = %q, want [%q]", tc.release, got, tc.want)
		}
	}
}
