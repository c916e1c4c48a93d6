package vulndb

import (
	"fmt"
	"regexp"
	"sort"
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

// queryError is a problem with a purl or CPE to look up. Its message states
// the problem and leaves out the text of the sentinel it wraps.
type queryError struct {
	msg      string
	sentinel error
}

func (e *queryError) Error() string { return e.msg }

func (e *queryError) Unwrap() error { return e.sentinel }

// invalidQuery returns a queryError wrapping errdef.ErrInvalidArgument.
func invalidQuery(format string, args ...any) error {
	return &queryError{msg: fmt.Sprintf(format, args...), sentinel: errdef.ErrInvalidArgument}
}

// ValidatePURL checks a package URL to look up: its syntax, a type with an
// OSV ecosystem and, when it has one, a version valid in that ecosystem. A
// malformed purl is an error wrapping errdef.ErrInvalidArgument, and a type
// with no OSV ecosystem one wrapping errdef.ErrNotFound. A purl without
// "@VERSION" is valid and names every version.
func ValidatePURL(s string) error {
	q, err := purlQuery(s)
	if err != nil {
		return err
	}
	if q.version == "" {
		return nil
	}
	if _, err := orderFor(q.ecosystem).parse(q.version); err != nil {
		return invalidQuery("purl %q: version %q is not a valid %s version (%v); correct the version in the purl or SBOM",
			s, q.version, q.ecosystem, err)
	}
	return nil
}

// purlQuery parses a package URL into an OSV package query.
func purlQuery(s string) (pkgQuery, error) {
	p, err := packageurl.FromString(s)
	if err != nil {
		return pkgQuery{}, invalidQuery("purl %q is malformed (%v); write it as pkg:TYPE/NAMESPACE/NAME@VERSION", s, err)
	}
	if err := checkPURLVersion(s); err != nil {
		return pkgQuery{}, err
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
		if q.ecosystem == "" {
			return pkgQuery{}, distroError(s, p.Type, ns)
		}
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
		return pkgQuery{}, &queryError{sentinel: errdef.ErrNotFound, msg: fmt.Sprintf(
			"purl %q: type %q has no OSV ecosystem, so it cannot be looked up; supported types are %s",
			s, p.Type, strings.Join(supportedPURLTypes(), ", "))}
	}
	return q, nil
}

// checkPURLVersion rejects a purl that ends in "@" with no version, and one
// whose name segment contains a second, unencoded "@".
func checkPURLVersion(s string) error {
	body, _, _ := strings.Cut(s, "#")
	body, _, _ = strings.Cut(body, "?")
	if strings.HasSuffix(body, "@") {
		return invalidQuery("purl %q has an empty version after \"@\"; give a version, or leave out the \"@\" to match every version", s)
	}
	last := body[strings.LastIndex(body, "/")+1:]
	if strings.Count(last, "@") > 1 {
		return invalidQuery("purl %q has more than one \"@\" after its name; write it as pkg:TYPE/NAMESPACE/NAME@VERSION and encode an \"@\" in the version as %%40", s)
	}
	return nil
}

// distroError describes a deb, apk or rpm purl whose namespace names no
// supported distribution.
func distroError(s, typ, ns string) error {
	names := make([]string, 0, len(distroEcosystems))
	for n := range distroEcosystems {
		names = append(names, n)
	}
	sort.Strings(names)
	what := fmt.Sprintf("its namespace %q is not a supported distribution", ns)
	if ns == "" {
		what = "it has no namespace"
	}
	return &queryError{sentinel: errdef.ErrNotFound, msg: fmt.Sprintf(
		"purl %q: a %s purl needs the distribution as its namespace, such as pkg:%s/%s/NAME@VERSION, but %s; supported distributions are %s",
		s, typ, typ, exampleDistro(typ), what, strings.Join(names, ", "))}
}

func exampleDistro(typ string) string {
	switch typ {
	case "apk":
		return "alpine"
	case "rpm":
		return "redhat"
	}
	return "debian"
}

// supportedPURLTypes returns the purl types with an OSV ecosystem, sorted.
func supportedPURLTypes() []string {
	out := []string{"apk", "deb", "rpm"}
	for t := range purlEcosystems {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
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
