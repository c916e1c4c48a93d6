package vulndb

import (
	"errors"
	"fmt"
	"strings"
)

// Warning reasons of affected packages that their ecosystem, name and
// purl together fail to identify.
const (
	// reasonPURLMismatch is a package whose purl names another package
	// than its ecosystem and name. The ecosystem and name are kept.
	reasonPURLMismatch = "purl-mismatch"
	// reasonUnresolvedPackage is a package that lacks its ecosystem or
	// name and whose purl cannot provide them, so no package index key
	// names it and no purl lookup or scan matches it.
	reasonUnresolvedPackage = "unresolved-package"
)

// purlPackageEcosystem returns the ecosystem that a package given only by
// the purl of q gets: q's ecosystem with the release suffix that OSV
// records of that ecosystem carry, where the release of the purl's distro
// qualifier gives one.
//
//   - Debian, Ubuntu and Alpine suffixes are the release: "Debian:12",
//     "Ubuntu:22.04" and "Alpine:v3.18".
//   - Rocky Linux, AlmaLinux and Mageia suffixes are the major release,
//     "Rocky Linux:9", so "rocky-9.3" gives that.
//   - Red Hat suffixes are the CPE of a product stream. "rhel-9.3" gives
//     "Red Hat:enterprise_linux:9", from cpe:/o:redhat:enterprise_linux:9,
//     which rpmReleaseMatches reads as the stream of every RHEL 9 minor
//     release.
//   - SUSE and openSUSE suffixes are product names, such as "Linux
//     Enterprise Server 15 SP5", and openEuler ones add the support line,
//     as in "22.03-LTS-SP3". A distro qualifier such as "sles-15.5" or
//     "openeuler-22.03" does not name the product or the service pack, so
//     these get no release and cover every release.
func purlPackageEcosystem(q pkgQuery) string {
	if q.release == "" {
		return q.ecosystem
	}
	major, _, _ := strings.Cut(q.release, ".")
	switch q.ecosystem {
	case "Debian", "Ubuntu", "Alpine":
		return q.ecosystem + ":" + q.release
	case "Rocky Linux", "AlmaLinux", "Mageia":
		return q.ecosystem + ":" + major
	case "Red Hat":
		return "Red Hat:enterprise_linux:" + major
	}
	return q.ecosystem
}

// resolvePackages fills in the ecosystem and name of each affected package
// of r from its purl where the package lacks them, and returns one warning
// per reason for the packages that its purl contradicts or that cannot be
// identified. Those packages keep the fields they had.
func resolvePackages(r *Record) []*recordProblem {
	details := map[string][]string{}
	for i := range r.Affected {
		a := &r.Affected[i]
		if reason, detail := resolvePackage(&a.Package, a.Ranges); reason != "" {
			details[reason] = append(details[reason], detail)
		}
	}
	var out []*recordProblem
	if d := details[reasonPURLMismatch]; d != nil {
		out = append(out, problem(reasonPURLMismatch,
			"%s; lookups and scans match the ecosystem and name. Correct the purl or the ecosystem and name in the feed copy, "+
				"or report the record to the feed's maintainers", strings.Join(d, "; ")))
	}
	if d := details[reasonUnresolvedPackage]; d != nil {
		out = append(out, problem(reasonUnresolvedPackage,
			"%s; no purl lookup or scan matches such a package, and the record is found only by its ID, its aliases "+
				"and its other packages. Give the package its OSV ecosystem and name, or a purl of a supported type, "+
				"in the feed copy", strings.Join(d, "; ")))
	}
	return out
}

// resolvePackage fills in p.Ecosystem and p.Name from p.PURL where either
// is missing. The purl's type gives the ecosystem as it does for lookups
// (purlQuery), and its distro qualifier the release where the ecosystem
// allows one (purlPackageEcosystem). A qualifier without a release
// number, such as "sid", gives none, so the entry covers every release of
// the distribution, as one without a qualifier does. The purl's version is
// ignored, since the OSV schema writes the purl without one, and the
// ranges and versions of the entry give the affected versions.
//
// It returns a warning reason and a detail for the message when the purl
// names another package than a full ecosystem and name, or when the
// package cannot be identified. p is then unchanged. An entry with no
// ecosystem, name or purl is no problem unless it has SEMVER or ECOSYSTEM
// ranges, because the OSV schema lets an entry with only GIT ranges leave
// out its package.
func resolvePackage(p *Package, ranges []Range) (reason, detail string) {
	if p.Ecosystem == "" && p.Name == "" && p.PURL == "" {
		if hasVersionRange(ranges) {
			return reasonUnresolvedPackage, "an affected entry with SEMVER or ECOSYSTEM ranges has no ecosystem, name or purl"
		}
		return "", ""
	}
	if p.Ecosystem != "" && p.Name != "" {
		if p.PURL == "" {
			return "", ""
		}
		// A malformed purl, or one of a type with no OSV ecosystem, is not
		// compared, because lookups never read the purl of such a package.
		// One whose type is not the package format of its distribution,
		// such as pkg:rpm/debian/openssl, names no package at all.
		q, err := purlQuery(p.PURL)
		var qe *queryError
		if errors.As(err, &qe) && qe.typeConflict {
			return reasonPURLMismatch, fmt.Sprintf("%s/%s has a purl of the wrong type: %v", p.Ecosystem, p.Name, err)
		}
		if err != nil || identifiesPackage(q, p.Ecosystem, p.Name) {
			return "", ""
		}
		return reasonPURLMismatch, fmt.Sprintf("%s/%s has purl %q, which names %s/%s",
			p.Ecosystem, p.Name, p.PURL, q.ecosystem, q.name)
	}

	label := describeIncomplete(*p)
	if p.PURL == "" {
		return reasonUnresolvedPackage, fmt.Sprintf("%s and no purl", label)
	}
	q, err := purlQuery(p.PURL)
	switch {
	case err != nil:
		return reasonUnresolvedPackage, fmt.Sprintf("%s, and its purl cannot provide them: %v", label, err)
	case p.Ecosystem != "" && !strings.EqualFold(baseEcosystem(p.Ecosystem), q.ecosystem):
		return reasonUnresolvedPackage, fmt.Sprintf("%s, and its purl %q names %s/%s, a package of another ecosystem",
			label, p.PURL, q.ecosystem, q.name)
	case p.Name != "" && normalizeName(q.ecosystem, p.Name) != normalizeName(q.ecosystem, q.name):
		return reasonUnresolvedPackage, fmt.Sprintf("%s, and its purl %q names %s/%s, a package of another name",
			label, p.PURL, q.ecosystem, q.name)
	}
	if p.Ecosystem == "" {
		p.Ecosystem = purlPackageEcosystem(q)
	}
	if p.Name == "" {
		p.Name = q.name
	}
	return "", ""
}

// Unresolved reports whether the entry's package lacks its ecosystem or
// its name, which is the case for a package that the build could not
// identify. No package index key names such an entry, so no purl lookup or
// scan matches it. An entry without any package and without SEMVER or
// ECOSYSTEM ranges is not unresolved, because the OSV schema lets an
// entry with only GIT ranges or versions leave out its package.
func (a Affected) Unresolved() bool {
	p := a.Package
	if p.Ecosystem != "" && p.Name != "" {
		return false
	}
	return p != Package{} || hasVersionRange(a.Ranges)
}

// identifiesPackage reports whether the purl query q names the package
// with the given ecosystem and name. The release suffix of the ecosystem
// is not compared, and names are compared as the package index keys them.
func identifiesPackage(q pkgQuery, ecosystem, name string) bool {
	return strings.EqualFold(baseEcosystem(ecosystem), q.ecosystem) &&
		normalizeName(q.ecosystem, name) == normalizeName(q.ecosystem, q.name)
}

// describeIncomplete names a package that lacks its ecosystem, its name
// or both, for messages.
func describeIncomplete(p Package) string {
	switch {
	case p.Ecosystem == "" && p.Name == "":
		return fmt.Sprintf("package with purl %q has no ecosystem and name", p.PURL)
	case p.Name == "":
		return fmt.Sprintf("package of ecosystem %q has no name", p.Ecosystem)
	}
	return fmt.Sprintf("package %q has no ecosystem", p.Name)
}

// hasVersionRange reports whether ranges include a SEMVER or ECOSYSTEM
// range, which only a package's ecosystem can order.
func hasVersionRange(ranges []Range) bool {
	for _, rg := range ranges {
		if rg.Type == "SEMVER" || rg.Type == "ECOSYSTEM" {
			return true
		}
	}
	return false
}
