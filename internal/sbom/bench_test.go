package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Sizes of the generated SBOMs that the benchmarks parse. Each package
// comes with filesPerPackage files (SPDX) or file components (CycloneDX),
// as syft writes them when it catalogs files. The large counts make
// documents of about 150 MB.
const (
	smallPackages          = 1000
	largeSPDXPackages      = 44000
	largeCycloneDXPackages = 70000
	filesPerPackage        = 4
)

// hexDigest returns the hex SHA-256 of the words, truncated to n digits, as
// a stand-in for checksums and unique ID parts.
func hexDigest(n int, words ...string) string {
	h := sha256.New()
	for _, w := range words {
		io.WriteString(h, w)
	}
	return hex.EncodeToString(h.Sum(nil))[:n]
}

// generateSPDX returns an SPDX 2.3 JSON document in the layout of syft's
// spdx-json output: packages with a purl and a CPE, files with checksums
// and the relationships between them.
func generateSPDX(packages int) []byte {
	var b bytes.Buffer
	b.WriteString(`{
 "spdxVersion": "SPDX-2.3",
 "dataLicense": "CC0-1.0",
 "SPDXID": "SPDXRef-DOCUMENT",
 "name": "registry.example/bench/app",
 "documentNamespace": "https://stella-ops.org/spdx/bench/app-` + strconv.Itoa(packages) + `",
 "creationInfo": {"licenseListVersion": "3.25", "creators": ["Organization: Stella Ops", "Tool: sbom-bench"], "created": "2026-01-01T00:00:00Z"},
 "packages": [`)

	for i := range packages {
		if i > 0 {
			b.WriteByte(',')
		}
		name := "pkg-" + strconv.Itoa(i)
		version := fmt.Sprintf("1.%d.%d", i%97, i%13)
		fmt.Fprintf(&b, `
  {"name": %q, "SPDXID": "SPDXRef-Package-npm-%s-%s", "versionInfo": %q,
   "supplier": "Organization: Example Corp", "originator": "Person: Jane Doe (jane@example.test)",
   "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
   "sourceInfo": "acquired package info from installed node module manifest file: /usr/lib/node_modules/%s/package.json",
   "licenseConcluded": "NOASSERTION", "licenseDeclared": "MIT", "copyrightText": "NOASSERTION",
   "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}],
   "externalRefs": [
    {"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:example:%s:%s:*:*:*:*:*:*:*"},
    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/%s@%s"}]}`,
			name, name, hexDigest(16, name), version, name, hexDigest(64, "pkg", name), name, version, name, version)
	}

	b.WriteString("\n ],\n \"files\": [")
	for i := range packages * filesPerPackage {
		if i > 0 {
			b.WriteByte(',')
		}
		file := fmt.Sprintf("/usr/lib/node_modules/pkg-%d/lib/file-%d.js", i/filesPerPackage, i%filesPerPackage)
		fmt.Fprintf(&b, `
  {"fileName": %q, "SPDXID": "SPDXRef-File-%s", "fileTypes": ["SOURCE"],
   "checksums": [{"algorithm": "SHA1", "checksumValue": "%s"}, {"algorithm": "SHA256", "checksumValue": "%s"}],
   "licenseConcluded": "NOASSERTION", "licenseInfoInFiles": ["NOASSERTION"], "copyrightText": ""}`,
			file, hexDigest(16, file), hexDigest(40, "sha1", file), hexDigest(64, file))
	}

	b.WriteString("\n ],\n \"relationships\": [")
	for i := range packages {
		name := "pkg-" + strconv.Itoa(i)
		pkgID := "SPDXRef-Package-npm-" + name + "-" + hexDigest(16, name)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `
  {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": %q, "relationshipType": "DESCRIBES"}`, pkgID)
		for f := range filesPerPackage {
			file := fmt.Sprintf("/usr/lib/node_modules/pkg-%d/lib/file-%d.js", i, f)
			fmt.Fprintf(&b, `,
  {"spdxElementId": %q, "relatedSpdxElement": "SPDXRef-File-%s", "relationshipType": "CONTAINS"}`, pkgID, hexDigest(16, file))
		}
	}
	b.WriteString("\n ]\n}\n")
	return b.Bytes()
}

// generateCycloneDX returns a CycloneDX 1.6 JSON BOM in the layout of
// syft's cyclonedx-json output: library components with a purl, a CPE,
// licenses, hashes, properties and identity evidence, file components and
// the dependencies between them.
func generateCycloneDX(packages int) []byte {
	var b bytes.Buffer
	b.WriteString(`{
 "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
 "bomFormat": "CycloneDX",
 "specVersion": "1.6",
 "serialNumber": "urn:uuid:6a1f4c2e-8d3b-4e57-9b0a-2c7d5e1f3a98",
 "version": 1,
 "metadata": {
  "timestamp": "2026-01-01T00:00:00Z",
  "tools": {"components": [{"type": "application", "author": "Stella Ops", "name": "sbom-bench", "version": "1.0.0"}]},
  "component": {"bom-ref": "image", "type": "container", "name": "registry.example/bench/app", "version": "sha256:` + hexDigest(64, "image") + `"}
 },
 "components": [`)

	for i := range packages {
		if i > 0 {
			b.WriteByte(',')
		}
		name := "pkg-" + strconv.Itoa(i)
		version := fmt.Sprintf("1.%d.%d", i%97, i%13)
		purl := "pkg:npm/" + name + "@" + version
		fmt.Fprintf(&b, `
  {"bom-ref": "%s?package-id=%s", "type": "library", "name": %q, "version": %q,
   "licenses": [{"license": {"id": "MIT"}}],
   "cpe": "cpe:2.3:a:example:%s:%s:*:*:*:*:*:*:*", "purl": %q,
   "hashes": [{"alg": "SHA-256", "content": "%s"}],
   "properties": [
    {"name": "syft:package:foundBy", "value": "javascript-package-cataloger"},
    {"name": "syft:package:language", "value": "javascript"},
    {"name": "syft:package:type", "value": "npm"},
    {"name": "syft:location:0:path", "value": "/usr/lib/node_modules/%s/package.json"}],
   "evidence": {"identity": [{"field": "purl", "confidence": 1, "concludedValue": %q}]}}`,
			purl, hexDigest(16, name), name, version, name, version, purl, hexDigest(64, "pkg", name), name, purl)
		for f := range filesPerPackage {
			file := fmt.Sprintf("/usr/lib/node_modules/%s/lib/file-%d.js", name, f)
			fmt.Fprintf(&b, `,
  {"bom-ref": "file-%s", "type": "file", "name": %q,
   "hashes": [{"alg": "SHA-1", "content": "%s"}, {"alg": "SHA-256", "content": "%s"}]}`,
				hexDigest(16, file), file, hexDigest(40, "sha1", file), hexDigest(64, file))
		}
	}

	b.WriteString("\n ],\n \"dependencies\": [")
	for i := range packages {
		if i > 0 {
			b.WriteByte(',')
		}
		name := "pkg-" + strconv.Itoa(i)
		version := fmt.Sprintf("1.%d.%d", i%97, i%13)
		next := "pkg-" + strconv.Itoa((i+1)%packages)
		nextVersion := fmt.Sprintf("1.%d.%d", (i+1)%packages%97, (i+1)%packages%13)
		fmt.Fprintf(&b, `
  {"ref": "pkg:npm/%s@%s?package-id=%s", "dependsOn": ["pkg:npm/%s@%s?package-id=%s"]}`,
			name, version, hexDigest(16, name), next, nextVersion, hexDigest(16, next))
	}
	b.WriteString("\n ]\n}\n")
	return b.Bytes()
}

// BenchmarkParse parses generated SBOMs of about 1,000 packages and of
// about 150 MB from a file, as stella scan does, with Parse and with
// legacyParse, the decoding of the whole document by the libraries that
// Parse replaced.
func BenchmarkParse(b *testing.B) {
	parsers := []struct {
		name  string
		parse func(io.Reader) (string, []Package, error)
	}{
		{"legacy", legacyParse},
		{"Parse", Parse},
	}
	dir := b.TempDir()
	for _, c := range []struct {
		name     string
		generate func(int) []byte
		packages int
	}{
		{"spdx-1k", generateSPDX, smallPackages},
		{"cyclonedx-1k", generateCycloneDX, smallPackages},
		{"spdx-150MB", generateSPDX, largeSPDXPackages},
		{"cyclonedx-150MB", generateCycloneDX, largeCycloneDXPackages},
	} {
		b.Run(c.name, func(b *testing.B) {
			doc := c.generate(c.packages)
			path := filepath.Join(dir, c.name+".json")
			if err := os.WriteFile(path, doc, 0o644); err != nil {
				b.Fatal(err)
			}
			for _, p := range parsers {
				b.Run(p.name, func(b *testing.B) {
					b.SetBytes(int64(len(doc)))
					b.ReportAllocs()
					for b.Loop() {
						parseFile(b, path, p.parse)
					}
				})
			}
		})
	}
}

func parseFile(b *testing.B, path string, parse func(io.Reader) (string, []Package, error)) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, _, err := parse(f); err != nil {
		b.Fatal(err)
	}
}

// TestWriteBenchmarkSBOMs writes the SBOMs of BenchmarkParse into the
// folder that $SBOM_BENCH_DIR names, for measuring the stella binary on
// them, as docs/benchmarks.md does. It is skipped when the variable is
// not set.
func TestWriteBenchmarkSBOMs(t *testing.T) {
	dir := os.Getenv("SBOM_BENCH_DIR")
	if dir == "" {
		t.Skip("SBOM_BENCH_DIR is not set")
	}
	for name, doc := range map[string][]byte{
		"spdx-1k.json":         generateSPDX(smallPackages),
		"cyclonedx-1k.json":    generateCycloneDX(smallPackages),
		"spdx-150MB.json":      generateSPDX(largeSPDXPackages),
		"cyclonedx-150MB.json": generateCycloneDX(largeCycloneDXPackages),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
