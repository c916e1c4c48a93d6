// Package feedgen generates a realistic, deterministic set of vulnerability
// feeds for benchmarks: OSV records per ecosystem, GitHub Advisory Database
// records and NVD CVE API 2.0 pages, plus a series of nightly snapshots in
// which records are added, modified and withdrawn.
//
// The shapes follow public records: GHSA advisories with ECOSYSTEM ranges
// and a CVE alias, OSV-native records (PYSEC with versions lists, GO and
// RUSTSEC with SEMVER ranges, Debian and Alpine per release), MAL records
// without ranges, and NVD records with CVSS v3.1 (some v4.0) metrics, CWE
// weaknesses, references and CPE configurations (ranges, exact versions and
// AND nodes naming a platform).
//
// A Generator holds one "logical vulnerability" per DB record. Each one is
// published by one or more feeds, so after the aliases are merged the DB
// holds about Config.Records records from about 1.3 times as many source
// records. The same Config always gives the same bytes.
//
// Use it from Go:
//
//	g := feedgen.New(feedgen.Config{Seed: 1, Records: 300000})
//	g.Write("out/night-000", feedgen.FormatZip)
//	ch := g.Advance() // the next night's changes
//	g.Write("out/night-001", feedgen.FormatZip)
//
// or run the command in the parent folder (go run ./bench/gen -h).
package feedgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	// The alias keeps the name cvss for this package's v3.1 vector type.
	cvssscore "stella-ops.org/ouk/internal/cvss"
)

// Config sizes the generated feeds. Zero fields take the defaults shown.
type Config struct {
	// Seed makes the output reproducible. Default 1.
	Seed uint64
	// Records is the number of logical vulnerabilities, which is about
	// the number of records in the merged DB. Default 300,000.
	Records int
	// AddPerNight, ModifyPerNight and WithdrawPerNight size each nightly
	// change set. Defaults 300, 3,000 and 20.
	AddPerNight      int
	ModifyPerNight   int
	WithdrawPerNight int
	// Start is the time of the base snapshot; night k is k days later.
	// Default 2026-01-01T00:00:00Z.
	Start time.Time
}

func (c *Config) defaults() {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Records == 0 {
		c.Records = 300000
	}
	if c.AddPerNight == 0 {
		c.AddPerNight = 300
	}
	if c.ModifyPerNight == 0 {
		c.ModifyPerNight = 3000
	}
	if c.WithdrawPerNight == 0 {
		c.WithdrawPerNight = 20
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
}

// shape is the set of feeds that publish a vulnerability.
type shape uint8

const (
	shapeNVDOnly  shape = iota // NVD record with CPE configurations only
	shapeGHSANVD               // GHSA advisory aliasing a CVE that NVD also has
	shapeGHSAOnly              // GHSA advisory without a CVE
	shapeOSVNVD                // OSV-native record aliasing a CVE that NVD has
	shapeOSVCVE                // OSV-native record aliasing a CVE unknown to NVD
	shapeOSVOnly               // OSV-native record without a CVE (MAL, some GO)
)

// shapeWeights is the share of each shape, in percent.
var shapeWeights = []struct {
	s shape
	w int
}{
	{shapeNVDOnly, 50}, {shapeGHSANVD, 17}, {shapeGHSAOnly, 5},
	{shapeOSVNVD, 13}, {shapeOSVCVE, 10}, {shapeOSVOnly, 5},
}

// ghsaEcosystems is the ecosystem mix of GHSA advisories, weighted.
var ghsaEcosystems = []struct {
	eco string
	w   int
}{
	{"npm", 24}, {"Maven", 22}, {"PyPI", 16}, {"Go", 11}, {"Packagist", 10},
	{"RubyGems", 5}, {"NuGet", 5}, {"crates.io", 7},
}

// osvEcosystems is the ecosystem mix of OSV-native records, weighted,
// with the ID prefix each database uses.
var osvEcosystems = []struct {
	eco    string
	prefix string
	w      int
}{
	{"PyPI", "PYSEC", 18}, {"Go", "GO", 14}, {"crates.io", "RUSTSEC", 6},
	{"Debian:12", "DEBIAN", 16}, {"Debian:11", "DEBIAN", 10}, {"Alpine:v3.19", "ALPINE", 8},
	{"Alpine:v3.18", "ALPINE", 6}, {"npm", "MAL", 12}, {"PyPI", "MAL", 10},
}

// version is a three-part version, formatted per ecosystem.
type version struct{ major, minor, patch, rev uint16 }

func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	if v.patch != o.patch {
		return v.patch < o.patch
	}
	return v.rev < o.rev
}

// format writes the version the way the ecosystem spells it.
func (v version) format(eco string) string {
	base := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	switch baseEco(eco) {
	case "Debian":
		return fmt.Sprintf("%s-%d", base, v.rev+1)
	case "Alpine":
		return fmt.Sprintf("%s-r%d", base, v.rev)
	}
	return base
}

// span is one affected range: from introduced (zero value: "0") to fixed
// (zero value: no fix yet).
type span struct {
	introduced version
	fixed      version
	hasIntro   bool
	hasFix     bool
}

// affectedPkg is one affected package of a vulnerability.
type affectedPkg struct {
	eco   string
	name  string
	spans []span
	list  bool // also publish an explicit versions list (PYSEC style)
}

// vuln is one logical vulnerability and the state of its source records.
type vuln struct {
	shape     shape
	cve       string
	ghsa      string
	osvID     string
	pkgs      []affectedPkg
	vendor    string // NVD CPE vendor and product
	product   string
	cpeExact  []version // NVD criteria naming exact versions
	cpeSpans  []span    // NVD criteria ranges of an NVD-only record
	andOS     bool      // NVD configuration ANDs the product with an OS
	published time.Time
	modified  time.Time
	withdrawn time.Time
	severity  cvss
	cvss4     bool
	cwe       int
	refs      []string
	textSeed  uint64
}

// cvss is a CVSS v3.1 base vector as its metric indexes.
type cvss [8]uint8

var cvssMetrics = []struct {
	name   string
	values []string
}{
	{"AV", []string{"N", "A", "L", "P"}}, {"AC", []string{"L", "H"}}, {"PR", []string{"N", "L", "H"}},
	{"UI", []string{"N", "R"}}, {"S", []string{"U", "C"}}, {"C", []string{"H", "L", "N"}},
	{"I", []string{"H", "L", "N"}}, {"A", []string{"H", "L", "N"}},
}

func (c cvss) vector() string {
	var b strings.Builder
	b.WriteString("CVSS:3.1")
	for i, m := range cvssMetrics {
		b.WriteString("/" + m.name + ":" + m.values[int(c[i])%len(m.values)])
	}
	return b.String()
}

// vectorV40 returns a CVSS v4.0 base vector with the attack, privilege
// and impact values of c, so that v4.0 scores vary as v3.1 ones do.
// AT is always N, and required user interaction (UI:R) becomes passive
// (UI:P). A changed scope (S:C) gives the subsequent systems the impact
// on the vulnerable system, and they have no impact otherwise.
func (c cvss) vectorV40() string {
	value := func(i int) string { return cvssMetrics[i].values[int(c[i])%len(cvssMetrics[i].values)] }
	userInteraction := map[string]string{"N": "N", "R": "P"}[value(3)]
	subsequent := [3]string{"N", "N", "N"}
	if value(4) == "C" {
		subsequent = [3]string{value(5), value(6), value(7)}
	}
	return fmt.Sprintf("CVSS:4.0/AV:%s/AC:%s/AT:N/PR:%s/UI:%s/VC:%s/VI:%s/VA:%s/SC:%s/SI:%s/SA:%s",
		value(0), value(1), value(2), userInteraction, value(5), value(6), value(7),
		subsequent[0], subsequent[1], subsequent[2])
}

// baseScore returns the base score and rating of vector as package cvss
// computes them, which equal NVD's baseScore and baseSeverity for the
// vectors that its tests compare. It panics on an invalid vector, which
// only a bug of this package can make.
func baseScore(vector string) (float64, string) {
	s, err := cvssscore.BaseScore(vector)
	if err != nil {
		panic(fmt.Sprintf("generated CVSS vector %q: %v", vector, err))
	}
	return s.Base, s.Rating
}

// score is an estimate of the CVSS v3.1 base score, good enough for a
// plausible baseSeverity; it is not the CVSS formula.
func (c cvss) score() (float64, string) {
	s := 10.0 - float64(c[0])*0.7 - float64(c[1])*0.8 - float64(c[2])*0.6 - float64(c[3])*0.5
	for _, i := range []int{5, 6, 7} {
		s -= float64(c[i]) * 0.6
	}
	s = float64(int(max(s, 1.0)*10)) / 10
	switch {
	case s >= 9:
		return s, "CRITICAL"
	case s >= 7:
		return s, "HIGH"
	case s >= 4:
		return s, "MEDIUM"
	}
	return s, "LOW"
}

func randCVSS(rng *rand.Rand) cvss {
	var c cvss
	for i, m := range cvssMetrics {
		// Skew towards the first value, as network/low/none dominate.
		c[i] = uint8(min(rng.IntN(len(m.values)*2), rng.IntN(len(m.values))))
	}
	return c
}

func baseEco(eco string) string {
	b, _, _ := strings.Cut(eco, ":")
	return b
}

// words feed names and text.
var words = strings.Fields(`buffer overflow injection prototype pollution denial service remote
code execution parser template path traversal allows attackers crafted input request header
cookie session token cache memory leak null pointer dereference integer underflow race
condition cross site scripting forgery redirect deserialization untrusted data xml entity
regular expression server client proxy archive zip tar image decoder encoder stream socket
http json yaml config loader plugin router handler auth login password crypto signature
certificate validation bypass privilege escalation sandbox escape file upload download
logging format string command shell query sql ldap graph schema worker queue scheduler`)

// nameWords feed package, vendor and product names.
var nameWords = strings.Fields(`alpha beta gamma delta sigma omega nova astro lumen terra aqua
ferro volt pixel quark flux vector matrix tensor kernel socket relay bridge gate forge
mill smith craft weave loom spark flare pulse wave tide reef coral amber onyx jade ruby
opal pearl cedar maple birch aspen willow fern moss lichen falcon hawk raven owl lynx
otter badger bison moose yak koala panda tiger lion zebra cobra viper mamba python`)
