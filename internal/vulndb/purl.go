package vulndb

import (
	"fmt"
	"regexp"
	"strings"

	packageurl "github.com/package-url/packageurl-go"

	"stella-ops.org/ouk/internal/errdef"
)

// pkgQuery is a package version to look up, in OSV terms.
type pkgQuery struct {
	ecosystem string // OSV ecosystem without release, such as "Debian"
	release   string // distribution release from the purl, such as "12"; may be empty
	name      string // OSV package name
	version   string // may be empty: every version
}

// purlEcosystems maps purl types to OSV ecosystems. Types with a
// namespace-dependent ecosystem (deb, apk, rpm) are handled in purlQuery.
var purlEcosystems = map[string]string{
	"npm":      "npm",
	"pypi":     "PyPI",
	"golang":   "Go",
	"maven":    "Maven",
	"cargo":    "crates.io",
	"gem":      "RubyGems",
	"nuget":    "NuGet",
	"composer": "Packagist",
	"hex":      "Hex",
	"pub":      "Pub",
	"swift":    "SwiftURL",
	"hackage":  "Hackage",
	"cran":     "CRAN",
	"conan":    "ConanCenter",
	"bitnami":  "Bitnami",
}

// distroEcosystems maps a deb, apk or rpm purl namespace to the OSV
// ecosystem.
var distroEcosystems = map[string]string{
	"debian":     "Debian",
	"ubuntu":     "Ubuntu",
	"alpine":     "Alpine",
	"wolfi":      "Wolfi",
	"chainguard": "Chainguard",
	"redhat":     "Red Hat",
	"rocky":      "Rocky Linux",
	"almalinux":  "AlmaLinux",
	"opensuse":   "openSUSE",
	"suse":       "SUSE",
}

// debianCodenames maps Debian release names to the numbers OSV uses.
var debianCodenames = map[string]string{
	"wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10",
	"bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
}

// purlQuery parses a package URL into an OSV package query.
func purlQuery(s string) (pkgQuery, error) {
	p, err := packageurl.FromString(s)
	if err != nil {
		return pkgQuery{}, fmt.Errorf("purl %q: %v; write it as pkg:TYPE/NAMESPACE/NAME@VERSION: %w",
			s, err, errdef.ErrInvalidRecord)
	}
	q := pkgQuery{name: p.Name, version: p.Version}
	if p.Type == "golang" && strings.HasPrefix(q.version, "go1") {
		// SBOM tools write Go toolchain versions as "go1.22.4"; OSV ranges
		// use "1.22.4".
		q.version = strings.TrimPrefix(q.version, "go")
	}
	ns := p.Namespace
	switch p.Type {
	case "deb", "apk", "rpm":
		q.ecosystem = distroEcosystems[strings.ToLower(ns)]
		q.release = purlRelease(q.ecosystem, p.Qualifiers.Map()["distro"])
	default:
		q.ecosystem = purlEcosystems[p.Type]
		switch {
		case ns == "":
		case p.Type == "maven":
			q.name = ns + ":" + p.Name
		case p.Type == "npm", p.Type == "golang", p.Type == "composer", p.Type == "swift":
			q.name = ns + "/" + p.Name
		}
	}
	if q.ecosystem == "" {
		return pkgQuery{}, fmt.Errorf("purl %q: type %q with namespace %q maps to no OSV ecosystem: %w",
			s, p.Type, ns, errdef.ErrNotFound)
	}
	return q, nil
}

var releaseNumber = regexp.MustCompile(`\d+(\.\d+)?`)

// purlRelease turns a purl "distro" qualifier into the release part of an
// OSV ecosystem: "debian-12" or "bookworm" is "12", "alpine-3.18.4" is
// "v3.18", "ubuntu-22.04" is "22.04".
func purlRelease(ecosystem, distro string) string {
	distro = strings.ToLower(strings.TrimSpace(distro))
	if distro == "" {
		return ""
	}
	if n, ok := debianCodenames[strings.TrimPrefix(distro, "debian-")]; ok && ecosystem == "Debian" {
		return n
	}
	num := releaseNumber.FindString(distro)
	switch ecosystem {
	case "Debian":
		major, _, _ := strings.Cut(num, ".")
		return major
	case "Alpine":
		if num == "" {
			return ""
		}
		return "v" + num
	}
	return num
}

// releaseMatches reports whether an OSV ecosystem such as "Alpine:v3.18"
// covers the query's release. Either side without a release matches all.
func releaseMatches(ecosystem, release string) bool {
	_, suffix, ok := strings.Cut(ecosystem, ":")
	if !ok || release == "" {
		return true
	}
	return suffix == release || strings.HasPrefix(suffix, release+":")
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// normalizeName puts a package name in the form the index keys use: lower
// case, and for PyPI with runs of "-", "_" and "." made one "-" (PEP 503).
func normalizeName(ecosystem, name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if ecosystem == "PyPI" {
		name = pypiSeparators.ReplaceAllString(name, "-")
	}
	return name
}
