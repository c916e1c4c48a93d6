package vulndb

import (
	"errors"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	gem "github.com/aquasecurity/go-gem-version"
	npm "github.com/aquasecurity/go-npm-version/pkg"
	pep440 "github.com/aquasecurity/go-pep440-version"
	genericver "github.com/aquasecurity/go-version/pkg/version"
	apk "github.com/knqyf263/go-apk-version"
	deb "github.com/knqyf263/go-deb-version"
	mvn "github.com/masahiro331/go-mvn-version"
)

// compareFunc orders two versions of one ecosystem: negative, zero or
// positive as a is lower, equal or higher. It fails when either version is
// not valid in the ecosystem.
type compareFunc func(a, b string) (int, error)

// errNoOrder is returned for ecosystems whose versions have no known order.
var errNoOrder = errors.New("no version order for ecosystem")

// comparerFor returns the version order of an OSV ecosystem (without its
// ":release" suffix). Unknown ecosystems get SemVer order, which the OSV
// schema uses for SEMVER ranges.
func comparerFor(ecosystem string) compareFunc {
	switch ecosystem {
	case "npm":
		return compareNPM
	case "PyPI":
		return comparePyPI
	case "Maven":
		return compareMaven
	case "RubyGems":
		return compareGem
	case "Debian", "Ubuntu":
		return compareDebian
	case "Alpine", "Wolfi", "Chainguard":
		return compareAlpine
	case "Packagist":
		return compareComposer
	case "NuGet":
		return compareGeneric
	default:
		// Go, crates.io, Hex, Pub and SwiftURL use SemVer 2.0.
		return compareSemver
	}
}

func compareSemver(a, b string) (int, error) {
	va, err := semver.NewVersion(strings.TrimPrefix(a, "v"))
	if err != nil {
		return 0, err
	}
	vb, err := semver.NewVersion(strings.TrimPrefix(b, "v"))
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func compareNPM(a, b string) (int, error) {
	va, err := npm.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := npm.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func comparePyPI(a, b string) (int, error) {
	va, err := pep440.Parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := pep440.Parse(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func compareMaven(a, b string) (int, error) {
	va, err := mvn.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := mvn.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func compareGem(a, b string) (int, error) {
	va, err := gem.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := gem.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func compareDebian(a, b string) (int, error) {
	va, err := deb.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := deb.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func compareAlpine(a, b string) (int, error) {
	va, err := apk.NewVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := apk.NewVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// compareGeneric orders dotted versions with any number of parts and
// pre-release suffixes, as NuGet versions are.
func compareGeneric(a, b string) (int, error) {
	va, err := genericver.Parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := genericver.Parse(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// versionAffected reports whether version is affected by an OSV affected
// entry of the given ecosystem: listed in versions, or inside a SEMVER or
// ECOSYSTEM range. GIT ranges name commits, not versions, and are skipped.
func versionAffected(a *Affected, ecosystem, version string) bool {
	for _, v := range a.Versions {
		if v == version {
			return true
		}
	}
	for _, rg := range a.Ranges {
		var cmp compareFunc
		switch rg.Type {
		case "SEMVER":
			cmp = compareSemver
		case "ECOSYSTEM":
			cmp = comparerFor(ecosystem)
		default:
			continue
		}
		if inRange(rg.Events, version, cmp) {
			return true
		}
	}
	return false
}

// rangeEvent is an event with its kind and version, for sorting.
type rangeEvent struct {
	kind    int // 0 introduced, 1 last_affected, 2 fixed or limit
	version string
}

// inRange applies OSV range semantics: events sorted by version, and the
// last event at or below version decides. An introduced "0" precedes every
// version. Events whose version cannot be parsed are ignored.
func inRange(events []Event, version string, cmp compareFunc) bool {
	if _, err := cmp(version, version); err != nil {
		return false
	}
	var evs []rangeEvent
	for _, e := range events {
		switch {
		case e.Introduced != "":
			evs = append(evs, rangeEvent{0, e.Introduced})
		case e.LastAffected != "":
			evs = append(evs, rangeEvent{1, e.LastAffected})
		case e.Fixed != "":
			evs = append(evs, rangeEvent{2, e.Fixed})
		case e.Limit != "":
			evs = append(evs, rangeEvent{2, e.Limit})
		}
	}
	valid := evs[:0]
	for _, e := range evs {
		if e.version == "0" && e.kind == 0 {
			valid = append(valid, e)
			continue
		}
		if _, err := cmp(e.version, e.version); err == nil {
			valid = append(valid, e)
		}
	}
	evs = valid
	sort.SliceStable(evs, func(i, j int) bool {
		c := compareEvent(evs[i], evs[j], cmp)
		if c != 0 {
			return c < 0
		}
		return evs[i].kind < evs[j].kind
	})
	affected := false
	for _, e := range evs {
		if e.kind == 0 && e.version == "0" {
			affected = true
			continue
		}
		c, _ := cmp(version, e.version)
		switch e.kind {
		case 0:
			if c >= 0 {
				affected = true
			}
		case 1:
			if c > 0 {
				affected = false
			}
		case 2:
			if c >= 0 {
				affected = false
			}
		}
	}
	return affected
}

func compareEvent(a, b rangeEvent, cmp compareFunc) int {
	aZero := a.kind == 0 && a.version == "0"
	bZero := b.kind == 0 && b.version == "0"
	switch {
	case aZero && bZero:
		return 0
	case aZero:
		return -1
	case bZero:
		return 1
	}
	c, _ := cmp(a.version, b.version)
	return c
}
