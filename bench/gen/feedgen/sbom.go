package feedgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	packageurl "github.com/package-url/packageurl-go"
)

// Package is one package of a generated SBOM.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	PURL      string `json:"purl"`
	// Affected is true when the version lies inside a range of the
	// record the package was drawn from; other records may still
	// affect a version marked false.
	Affected bool `json:"affected"`
}

// purlTypes maps an OSV ecosystem to its package URL type.
var purlTypes = map[string]string{
	"npm": "npm", "PyPI": "pypi", "Maven": "maven", "Go": "golang", "crates.io": "cargo",
	"RubyGems": "gem", "NuGet": "nuget", "Packagist": "composer", "Debian": "deb", "Alpine": "apk",
}

// purlOf builds the package URL of a package; version may be empty.
func purlOf(eco, name, version string) string {
	base, release, _ := strings.Cut(eco, ":")
	typ := purlTypes[base]
	ns, n := "", name
	var quals packageurl.Qualifiers
	switch base {
	case "Maven":
		ns, n, _ = strings.Cut(name, ":")
	case "Go", "Packagist", "npm":
		if i := strings.LastIndex(name, "/"); i >= 0 {
			ns, n = name[:i], name[i+1:]
		}
	case "Debian":
		ns = "debian"
		if release != "" {
			quals = packageurl.QualifiersFromMap(map[string]string{"distro": "debian-" + release})
		}
	case "Alpine":
		ns = "alpine"
		if release != "" {
			quals = packageurl.QualifiersFromMap(map[string]string{"distro": "alpine-" + strings.TrimPrefix(release, "v")})
		}
	}
	return packageurl.NewPackageURL(typ, ns, n, version, quals, "").ToString()
}

// Packages draws n packages from the records of the current snapshot,
// about half at a version inside an affected range and half at a fixed
// version. The same seed gives the same list.
func (g *Generator) Packages(n int, seed uint64) []Package {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]Package, 0, n)
	seen := map[string]bool{}
	for tries := 0; len(out) < n && tries < n*50; tries++ {
		v := g.vulns[rng.IntN(len(g.vulns))]
		if len(v.pkgs) == 0 || !v.withdrawn.IsZero() {
			continue
		}
		p := v.pkgs[rng.IntN(len(v.pkgs))]
		if len(p.spans) == 0 {
			continue
		}
		s := p.spans[rng.IntN(len(p.spans))]
		ver, affected := s.introduced, true
		if rng.IntN(2) == 0 && s.hasFix {
			ver, affected = s.fixed, false
		}
		vs := ver.format(p.eco)
		key := p.eco + "/" + p.name + "@" + vs
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, Package{Ecosystem: p.eco, Name: p.name, Version: vs,
			PURL: purlOf(p.eco, p.name, vs), Affected: affected})
	}
	return out
}

// WriteCycloneDX writes pkgs as a CycloneDX 1.5 JSON SBOM.
func WriteCycloneDX(w io.Writer, pkgs []Package) error {
	type component struct {
		Type    string `json:"type"`
		BOMRef  string `json:"bom-ref"`
		Name    string `json:"name"`
		Version string `json:"version"`
		PURL    string `json:"purl"`
	}
	comps := make([]component, len(pkgs))
	for i, p := range pkgs {
		comps[i] = component{Type: "library", BOMRef: fmt.Sprintf("pkg-%d", i), Name: p.Name, Version: p.Version, PURL: p.PURL}
	}
	doc := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// IDs draws n record IDs of the current snapshot, each a CVE, GHSA or OSV
// ID of a vulnerability that is not withdrawn. The same seed gives the
// same list.
func (g *Generator) IDs(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 98))
	out := make([]string, 0, n)
	for tries := 0; len(out) < n && tries < n*50; tries++ {
		v := g.vulns[rng.IntN(len(g.vulns))]
		if !v.withdrawn.IsZero() {
			continue
		}
		ids := []string{v.cve, v.ghsa, v.osvID}
		if id := ids[rng.IntN(3)]; id != "" {
			out = append(out, id)
		}
	}
	return out
}
