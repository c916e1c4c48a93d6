package vulndb

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
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
	// unknownRelease is the purl's distro qualifier when it gives no
	// release that purlRelease can read, such as "debian-sid" or
	// "alpine-edge". The query then has no release and matches the
	// entries of every release, and lookupPackage marks the records that
	// only such entries match as possibly affected.
	unknownRelease string
	// source is the source package of a deb or apk binary package, from
	// the purl's "upstream" qualifier, or nil. Debian, Ubuntu, Alpine and
	// the other deb and apk distributions key their records by source
	// package, so a lookup also queries it.
	source *pkgQuery
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

// distribution is a Linux distribution that deb, apk and rpm purls name by
// their namespace.
type distribution struct {
	ecosystem string // OSV ecosystem, such as "Debian"
	purlType  string // purl type of its packages: "deb", "apk" or "rpm"
	// example is a distro qualifier with a release, for messages, or ""
	// when OSV scopes the ecosystem to no release.
	example string
}

// distributions maps a deb, apk or rpm purl namespace to its distribution.
var distributions = map[string]distribution{
	"debian":     {"Debian", "deb", "debian-12"},
	"ubuntu":     {"Ubuntu", "deb", "ubuntu-22.04"},
	"alpine":     {"Alpine", "apk", "alpine-3.19"},
	"wolfi":      {"Wolfi", "apk", ""},
	"chainguard": {"Chainguard", "apk", ""},
	"redhat":     {"Red Hat", "rpm", "rhel-9.3"},
	"rocky":      {"Rocky Linux", "rpm", "rocky-9.3"},
	"almalinux":  {"AlmaLinux", "rpm", "almalinux-9.3"},
	"opensuse":   {"openSUSE", "rpm", "opensuse-leap-15.5"},
	"suse":       {"SUSE", "rpm", "sles-15.5"},
	"mageia":     {"Mageia", "rpm", "mageia-9"},
	"openeuler":  {"openEuler", "rpm", "openeuler-24.03"},
}

// debianCodenames maps Debian release names to the numbers OSV uses.
var debianCodenames = map[string]string{
	"wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10",
	"bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
}

// ubuntuCodenames maps the code names of Ubuntu releases to their numbers.
var ubuntuCodenames = map[string]string{
	"xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04",
	"mantic": "23.10", "noble": "24.04", "oracular": "24.10", "plucky": "25.04",
	"questing": "25.10",
}

// queryError is a problem with a purl or CPE to look up. Its message states
// the problem and leaves out the text of the sentinel it wraps.
type queryError struct {
	msg      string
	sentinel error
	// typeConflict marks a deb, apk or rpm purl whose type is not the
	// package format of the distribution that its namespace names.
	typeConflict bool
}

func (e *queryError) Error() string { return e.msg }

func (e *queryError) Unwrap() error { return e.sentinel }

// invalidQuery returns a queryError wrapping errdef.ErrInvalidArgument.
func invalidQuery(format string, args ...any) error {
	return &queryError{msg: fmt.Sprintf(format, args...), sentinel: errdef.ErrInvalidArgument}
}

// ValidatePURL checks a package URL to look up: its syntax, a type with an
// OSV ecosystem and its qualifiers. A malformed purl is an error wrapping
// errdef.ErrInvalidArgument, and a type with no OSV ecosystem one wrapping
// errdef.ErrNotFound. A purl without "@VERSION" is valid and names every
// version. The version is not checked against its ecosystem, because a
// version that the ecosystem cannot parse may still match records (see
// LookupPURL), which then decides.
func ValidatePURL(s string) error {
	_, err := purlQuery(s)
	return err
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
		d, ok := distributions[strings.ToLower(ns)]
		if !ok {
			return pkgQuery{}, distroError(s, p.Type, ns)
		}
		if d.purlType != p.Type {
			// A purl of another package format names no package of the
			// distribution, such as an rpm of Debian.
			return pkgQuery{}, &queryError{sentinel: errdef.ErrInvalidArgument, typeConflict: true, msg: fmt.Sprintf(
				"purl %q: namespace %q is %s, whose packages have purl type %s, not %s; write it as pkg:%s/%s/%s",
				s, ns, d.ecosystem, d.purlType, p.Type, d.purlType, ns, p.Name)}
		}
		q.ecosystem = d.ecosystem
		quals := p.Qualifiers.Map()
		if other := distroNamed(quals["distro"]); other != "" && other != q.ecosystem {
			// A release of another distribution matches nothing here, and
			// an empty result would read as "not affected".
			return pkgQuery{}, invalidQuery("purl %q: distro qualifier %q names a release of %s, but the purl's namespace %q is %s; "+
				"make the two agree", s, quals["distro"], other, ns, q.ecosystem)
		}
		q.release = purlRelease(q.ecosystem, quals["distro"])
		if d := strings.TrimSpace(quals["distro"]); d != "" && q.release == "" && !strings.Contains(strings.ToLower(d), "tumbleweed") {
			// SBOM tools write the distribution alone for a system
			// without a release number, such as Syft's "debian" for
			// Debian sid. Rejecting the purl would drop the package
			// from a scan, so it is looked up in every release.
			q.unknownRelease = d
		}
		if p.Type == "rpm" {
			if q.version, err = rpmEpochVersion(s, q.version, quals["epoch"]); err != nil {
				return pkgQuery{}, err
			}
		} else if up, ok := quals["upstream"]; ok {
			if q.source, err = sourcePackage(s, q, up); err != nil {
				return pkgQuery{}, err
			}
		}
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
// supported distribution, and lists the distributions of the purl's type.
func distroError(s, typ, ns string) error {
	var names []string
	for n, d := range distributions {
		if d.purlType == typ {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	what := fmt.Sprintf("its namespace %q is not a supported distribution", ns)
	if ns == "" {
		what = "it has no namespace"
	}
	return &queryError{sentinel: errdef.ErrNotFound, msg: fmt.Sprintf(
		"purl %q: a %s purl needs the distribution as its namespace, such as pkg:%s/%s/NAME@VERSION, but %s; supported %s distributions are %s",
		s, typ, typ, exampleDistro[typ], what, typ, strings.Join(names, ", "))}
}

// exampleDistro maps deb, apk and rpm to a namespace of theirs, for messages.
var exampleDistro = map[string]string{"deb": "debian", "apk": "alpine", "rpm": "redhat"}

// exampleRelease returns a distro qualifier with a release of the
// distribution whose OSV ecosystem is ecosystem, for messages, or "".
func exampleRelease(ecosystem string) string {
	for _, d := range distributions {
		if d.ecosystem == ecosystem {
			return d.example
		}
	}
	return ""
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

// distroNamed returns the ecosystem whose name starts a distro qualifier,
// such as Ubuntu for "ubuntu-22.04", or "" when it starts with none.
func distroNamed(distro string) string {
	name, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(distro)), "-")
	return distributions[name].ecosystem
}

// purlRelease turns a purl "distro" qualifier into the release part of an
// OSV ecosystem: "debian-12" or "bookworm" is "12", "alpine-3.18.4" is
// "v3.18", "ubuntu-22.04" is "22.04". For rpm distributions it is the
// major and any minor release, as rpmReleaseMatches compares them:
// "rhel-9.3" is "9.3", "el9" is "9" and "sles-15-sp5" is "15.5".
func purlRelease(ecosystem, distro string) string {
	distro = strings.ToLower(strings.TrimSpace(distro))
	if distro == "" {
		return ""
	}
	if n, ok := debianCodenames[strings.TrimPrefix(distro, "debian-")]; ok && ecosystem == "Debian" {
		return n
	}
	if n, ok := ubuntuCodenames[strings.TrimPrefix(distro, "ubuntu-")]; ok && ecosystem == "Ubuntu" {
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
	if rpmEcosystems[ecosystem] {
		if m := rpmRelease.FindStringSubmatch(distro); m != nil {
			return joinRelease(m)
		}
		return ""
	}
	return num
}

// releaseMatches reports whether an OSV ecosystem such as "Alpine:v3.18"
// covers the query's release. Either side without a release matches all.
func releaseMatches(ecosystem, release string) bool {
	base, suffix, ok := strings.Cut(ecosystem, ":")
	if !ok || release == "" {
		return true
	}
	if rpmEcosystems[base] {
		return rpmReleaseMatches(base, suffix, release)
	}
	return suffix == release || strings.HasPrefix(suffix, release+":")
}

// rpmEcosystems are the OSV ecosystems of the rpm distributions, whose
// ecosystem suffixes do not start with the bare release.
var rpmEcosystems = map[string]bool{
	"Red Hat": true, "Rocky Linux": true, "AlmaLinux": true, "SUSE": true, "openSUSE": true,
	"Mageia": true, "openEuler": true,
}

// rpmRelease finds a release with an optional minor part in a distro
// qualifier or a SUSE product name: "9", "9.3", "15 SP5" or "15-sp5".
var rpmRelease = regexp.MustCompile(`(?i)(\d+)(?:\.(\d+)|[-_ ]?sp(\d+))?`)

// joinRelease writes an rpmRelease match as "MAJOR" or "MAJOR.MINOR".
func joinRelease(m []string) string {
	minor := m[2] + m[3]
	if minor == "" {
		return m[1]
	}
	return m[1] + "." + minor
}

// Patterns of Red Hat ecosystem suffixes, which are the CPE of the
// product stream without its "cpe:/o:redhat:" or "cpe:/a:redhat:" prefix.
var (
	// redHatBase is a layered product's "elN" field, the RHEL major
	// release it is built for, as in "openshift:4.14::el9".
	redHatBase = regexp.MustCompile(`^el(\d+)$`)
	// redHatVersion is the version field of a RHEL stream, such as the "9"
	// of "enterprise_linux:9::baseos" or the "8.4" of "rhel_aus:8.4::appstream".
	redHatVersion = regexp.MustCompile(`^(\d+)(?:\.(\d+))?$`)
)

// openEulerRelease is the "YY.MM" release that starts an openEuler
// ecosystem suffix, such as the "22.03" of "22.03-LTS-SP3".
var openEulerRelease = regexp.MustCompile(`^(\d+)\.(\d+)`)

// rpmReleaseMatches reports whether the suffix of an rpm distribution's
// ecosystem covers a queried release written as "MAJOR" or "MAJOR.MINOR".
// The majors must be equal. The minors are compared only when the query
// names one and the suffix is a stream of that minor release:
//
//   - Red Hat "enterprise_linux:9::baseos" is the mainline stream that
//     every RHEL 9 minor release gets updates from, so it matches 9 and
//     9.3. Rocky Linux and AlmaLinux suffixes are a bare major, "9".
//   - Red Hat streams of one minor release, such as "rhel_eus:9.2::baseos"
//     or "rhel_aus:8.4::appstream", match 9 and 9.2 but not 9.3.
//   - Red Hat layered products, such as "openshift:4.14::el9", match by
//     their "elN" field. One without it matches every release.
//   - SUSE "Linux Enterprise Server 15 SP5" and openSUSE "Leap 15.5" match
//     15 and 15.5 but not 15.4. A suffix without a number, such as
//     "Tumbleweed", matches every release.
//   - Mageia suffixes are a bare major, "9", as Rocky Linux's are.
//   - openEuler suffixes start with the "YY.MM" release, as in
//     "22.03-LTS-SP3", and both numbers must be equal, so 22.03 matches
//     every service pack of 22.03 but not 22.09. A query of "22" matches
//     every release of 2022.
//
// NOTE: the SUSE, openSUSE, Rocky Linux, AlmaLinux, Mageia and openEuler
// suffix shapes above are the ones OSV publishes as far as known. No record
// of theirs is among the test records, so a shape not listed may match too
// widely.
func rpmReleaseMatches(base, suffix, release string) bool {
	wantMajor, wantMinor, _ := strings.Cut(release, ".")
	var major, minor string // minor "" when every minor release shares the stream
	switch base {
	case "Red Hat":
		fields := strings.Split(suffix, ":")
		for _, f := range fields[1:] {
			if m := redHatBase.FindStringSubmatch(f); m != nil {
				major = m[1]
			}
		}
		product := fields[0]
		if major == "" && len(fields) > 1 && (product == "enterprise_linux" || strings.HasPrefix(product, "rhel")) {
			if m := redHatVersion.FindStringSubmatch(fields[1]); m != nil {
				major = m[1]
				if product != "enterprise_linux" {
					minor = m[2]
				}
			}
		}
	case "SUSE", "openSUSE":
		all := rpmRelease.FindAllStringSubmatch(suffix, -1)
		if len(all) > 0 {
			// The last number is the release: a module name such as
			// "Module for Python 3 15 SP5" contains others before it.
			m := all[len(all)-1]
			major, minor = m[1], m[2]+m[3]
			if minor == "" {
				minor = "0"
			}
		}
	case "openEuler":
		if m := openEulerRelease.FindStringSubmatch(suffix); m != nil {
			major, minor = m[1], m[2]
		}
	default:
		major, _, _ = strings.Cut(suffix, ".")
	}
	if major == "" {
		return true
	}
	if major != wantMajor {
		return false
	}
	return minor == "" || wantMinor == "" || minor == wantMinor
}

// rpmEpochVersion applies the "epoch" qualifier of an rpm purl to its
// version, which the purl specification writes without the epoch. A
// version that has an epoch keeps it, and the qualifier must agree.
func rpmEpochVersion(purl, version, epoch string) (string, error) {
	if epoch == "" {
		return version, nil
	}
	if _, err := strconv.ParseUint(epoch, 10, 32); err != nil {
		return "", invalidQuery("purl %q: epoch qualifier %q is not a whole number from 0 to 4294967295; write the rpm epoch as digits, such as epoch=1, or leave the qualifier out",
			purl, epoch)
	}
	if version == "" {
		return "", nil
	}
	if e, _, ok := strings.Cut(version, ":"); ok && e != "" && strings.Trim(e, "0123456789") == "" {
		if strings.TrimLeft(e, "0") != strings.TrimLeft(epoch, "0") {
			return "", invalidQuery("purl %q: version %q has epoch %s but the epoch qualifier is %s; remove one of them or make them equal",
				purl, version, e, epoch)
		}
		return version, nil
	}
	return epoch + ":" + version, nil
}

// sourcePackage returns the query for the source package that the
// "upstream" qualifier of a deb or apk purl names, written "NAME" or
// "NAME@VERSION". Without a version the source package has the binary
// package's version. It returns nil when the source package is the
// binary package itself.
func sourcePackage(purl string, q pkgQuery, upstream string) (*pkgQuery, error) {
	name, version, hasVersion := strings.Cut(strings.TrimSpace(upstream), "@")
	if name == "" || (hasVersion && version == "") {
		return nil, invalidQuery("purl %q: upstream qualifier %q lacks the source package name or has an empty version; write it as upstream=NAME or upstream=NAME%%40VERSION, or leave it out",
			purl, upstream)
	}
	if !hasVersion {
		version = q.version
	}
	if name == q.name && version == q.version {
		return nil, nil
	}
	src := q
	src.name, src.version = name, version
	return &src, nil
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
