package feedgen

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Generator holds the current state of every logical vulnerability.
type Generator struct {
	cfg   Config
	night int
	vulns []*vuln
	// counters give every new record a fresh, unique ID.
	cveSeq  map[int]int
	osvSeq  map[string]int
	ghsaSeq uint64
}

// Changes lists what one night changed, by the primary ID of each logical
// vulnerability (its CVE, else its GHSA or OSV ID).
type Changes struct {
	Night     int      `json:"night"`
	Added     []string `json:"added"`
	Modified  []string `json:"modified"`
	Withdrawn []string `json:"withdrawn"`
	// changed are the indexes of every vulnerability the night touched.
	changed []int
}

// New generates the base snapshot.
func New(cfg Config) *Generator {
	cfg.defaults()
	g := &Generator{cfg: cfg, cveSeq: map[int]int{}, osvSeq: map[string]int{}}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	g.vulns = make([]*vuln, 0, cfg.Records+cfg.AddPerNight*31)
	for range cfg.Records {
		// Publication years skew towards recent ones, as CVE counts grow.
		year := 2026 - int(float64(12)*rng.Float64()*rng.Float64()) - 1
		pub := time.Date(year, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
		g.vulns = append(g.vulns, g.newVuln(rng, pub))
	}
	return g
}

// Config returns the configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Night returns the number of nights applied since the base snapshot.
func (g *Generator) Night() int { return g.night }

// Now returns the snapshot time of the current night.
func (g *Generator) Now() time.Time { return g.cfg.Start.AddDate(0, 0, g.night) }

// Records returns the number of logical vulnerabilities, withdrawn ones
// included.
func (g *Generator) Records() int { return len(g.vulns) }

func pick[T any](rng *rand.Rand, items []T, weight func(T) int) T {
	total := 0
	for _, it := range items {
		total += weight(it)
	}
	n := rng.IntN(total)
	for _, it := range items {
		n -= weight(it)
		if n < 0 {
			return it
		}
	}
	return items[len(items)-1]
}

func (g *Generator) nextCVE(year int) string {
	g.cveSeq[year]++
	return fmt.Sprintf("CVE-%d-%d", year, 1000+g.cveSeq[year])
}

// ghsaAlphabet is the alphabet of GHSA ID segments.
const ghsaAlphabet = "23456789cfghjmpqrvwx"

func (g *Generator) nextGHSA() string {
	g.ghsaSeq++
	// Spread the sequence over the ID space with a bijective mix.
	x := g.ghsaSeq*0x9E3779B97F4A7C15 ^ g.cfg.Seed
	b := []byte("GHSA-xxxx-xxxx-xxxx")
	for _, i := range []int{5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18} {
		b[i] = ghsaAlphabet[x%20]
		x /= 20
	}
	return string(b)
}

func (g *Generator) nextOSV(prefix string, year int, cve string) string {
	switch prefix {
	case "DEBIAN", "ALPINE":
		return prefix + "-" + cve
	}
	k := fmt.Sprintf("%s-%d", prefix, year)
	g.osvSeq[k]++
	if prefix == "MAL" {
		return fmt.Sprintf("MAL-%d-%d", year, g.osvSeq[k])
	}
	return fmt.Sprintf("%s-%d-%04d", prefix, year, g.osvSeq[k])
}

// newVuln makes one logical vulnerability published at pub.
func (g *Generator) newVuln(rng *rand.Rand, pub time.Time) *vuln {
	v := &vuln{
		shape: pick(rng, shapeWeights, func(s struct {
			s shape
			w int
		}) int {
			return s.w
		}).s,
		published: pub,
		severity:  randCVSS(rng),
		cvss4:     pub.Year() >= 2024 && rng.IntN(4) == 0,
		cwe:       cwes[rng.IntN(len(cwes))],
		textSeed:  rng.Uint64(),
	}
	// Most records are modified some time after publication; some real
	// ones state a modified time before published, which readers correct.
	v.modified = pub.Add(time.Duration(rng.IntN(400*24)) * time.Hour)
	if rng.IntN(200) == 0 {
		v.modified = pub.Add(-time.Hour)
	}
	if limit := g.Now(); v.modified.After(limit) {
		v.modified = limit.Add(-time.Duration(rng.IntN(3600)) * time.Second)
	}
	year := pub.Year()
	switch v.shape {
	case shapeNVDOnly:
		v.cve = g.nextCVE(year)
		v.vendor = nameWords[rng.IntN(len(nameWords))] + fmt.Sprint(rng.IntN(300))
		v.product = nameWords[rng.IntN(len(nameWords))] + "_" + nameWords[rng.IntN(len(nameWords))]
		if rng.IntN(3) == 0 {
			for range 1 + rng.IntN(5) {
				v.cpeExact = append(v.cpeExact, randVersion(rng))
			}
			sort.Slice(v.cpeExact, func(i, j int) bool { return v.cpeExact[i].less(v.cpeExact[j]) })
		} else {
			v.cpeSpans = []span{randSpan(rng)}
		}
		v.andOS = rng.IntN(8) == 0
	case shapeGHSANVD, shapeGHSAOnly:
		if v.shape == shapeGHSANVD {
			v.cve = g.nextCVE(year)
		}
		v.ghsa = g.nextGHSA()
		eco := pick(rng, ghsaEcosystems, func(e struct {
			eco string
			w   int
		}) int {
			return e.w
		}).eco
		for range 1 + rng.IntN(4)/3 {
			v.pkgs = append(v.pkgs, randPackage(rng, eco, false))
		}
	case shapeOSVNVD, shapeOSVCVE, shapeOSVOnly:
		e := pick(rng, osvEcosystems, func(e struct {
			eco    string
			prefix string
			w      int
		}) int {
			return e.w
		})
		prefix := e.prefix
		if v.shape != shapeOSVOnly {
			if prefix == "MAL" {
				prefix = "PYSEC"
				e.eco = "PyPI"
			}
			v.cve = g.nextCVE(year)
		} else if prefix == "DEBIAN" || prefix == "ALPINE" {
			prefix, e.eco = "GO", "Go"
		}
		v.osvID = g.nextOSV(prefix, year, v.cve)
		p := randPackage(rng, e.eco, prefix == "PYSEC" && rng.IntN(2) == 0)
		if prefix == "MAL" {
			p.spans = nil // malicious packages: every version, no ranges
		}
		v.pkgs = append(v.pkgs, p)
	}
	if v.cve != "" && v.shape != shapeOSVCVE && v.vendor == "" && len(v.pkgs) > 0 {
		v.vendor = cpeWord(v.pkgs[0].name) + "_project"
		v.product = cpeWord(v.pkgs[0].name)
	}
	for range 1 + rng.IntN(6) {
		v.refs = append(v.refs, randRef(rng, v))
	}
	return v
}

var cwes = []int{20, 22, 78, 79, 89, 94, 119, 125, 190, 200, 287, 295, 352, 400, 416, 434, 476, 502, 611, 787, 862, 918, 1321}

// namePool is the number of distinct package names per ecosystem. A few
// popular packages collect many advisories, as in the real databases.
const namePool = 6000

func randVersion(rng *rand.Rand) version {
	return version{uint16(rng.IntN(8)), uint16(rng.IntN(25)), uint16(rng.IntN(30)), uint16(rng.IntN(4))}
}

// packageName returns the k-th package name of an ecosystem.
func packageName(eco string, k int) string {
	a := nameWords[k%len(nameWords)]
	b := nameWords[(k/len(nameWords))%len(nameWords)]
	n := k / (len(nameWords) * len(nameWords))
	suffix := ""
	if n > 0 {
		suffix = fmt.Sprint(n)
	}
	switch baseEco(eco) {
	case "Maven":
		return fmt.Sprintf("org.%s%s:%s-%s", a, suffix, b, a)
	case "Go":
		return fmt.Sprintf("github.com/%s%s/%s", a, suffix, b)
	case "Packagist":
		return fmt.Sprintf("%s%s/%s", a, suffix, b)
	case "npm":
		if k%7 == 0 {
			return fmt.Sprintf("@%s%s/%s", a, suffix, b)
		}
	}
	return fmt.Sprintf("%s-%s%s", a, b, suffix)
}

func randPackage(rng *rand.Rand, eco string, list bool) affectedPkg {
	// Squaring a uniform number skews picks towards low indexes.
	u := rng.Float64()
	p := affectedPkg{eco: eco, name: packageName(eco, int(u*u*namePool)), list: list}
	for range 1 + rng.IntN(5)/3 {
		p.spans = append(p.spans, randSpan(rng))
	}
	sortSpans(p.spans)
	return p
}

func randSpan(rng *rand.Rand) span {
	s := span{hasFix: rng.IntN(10) != 0}
	lo := randVersion(rng)
	if rng.IntN(3) != 0 {
		s.introduced, s.hasIntro = lo, true
	}
	hi := lo
	hi.patch += uint16(1 + rng.IntN(6))
	if rng.IntN(3) == 0 {
		hi.minor++
		hi.patch = 0
	}
	s.fixed = hi
	return s
}

func sortSpans(s []span) {
	sort.Slice(s, func(i, j int) bool { return s[i].introduced.less(s[j].introduced) })
}

func cpeWord(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

var refHosts = []string{"https://github.com/%s/%s/issues/%d", "https://github.com/%s/%s/commit/%x",
	"https://github.com/%s/%s/pull/%d", "https://security.%s.example/%s/advisory-%d",
	"https://lists.%s.example/%s/msg%05d.html"}

func randRef(rng *rand.Rand, v *vuln) string {
	a, b := nameWords[rng.IntN(len(nameWords))], nameWords[rng.IntN(len(nameWords))]
	f := refHosts[rng.IntN(len(refHosts))]
	if f == refHosts[1] {
		return fmt.Sprintf(f, a, b, rng.Uint64())
	}
	return fmt.Sprintf(f, a, b, rng.IntN(100000))
}

// primaryID is the ID the merged record is likely to carry.
func (v *vuln) primaryID() string {
	switch {
	case v.cve != "":
		return v.cve
	case v.ghsa != "":
		return v.ghsa
	}
	return v.osvID
}

// Advance applies the next night's changes and returns them.
func (g *Generator) Advance() Changes {
	g.night++
	now := g.Now()
	rng := rand.New(rand.NewPCG(g.cfg.Seed, uint64(g.night)))
	ch := Changes{Night: g.night}
	touched := map[int]bool{}
	stamp := func() time.Time { return now.Add(-time.Duration(rng.IntN(86400)) * time.Second) }

	for range g.cfg.AddPerNight {
		v := g.newVuln(rng, stamp())
		v.modified = v.published
		g.vulns = append(g.vulns, v)
		idx := len(g.vulns) - 1
		touched[idx] = true
		ch.Added = append(ch.Added, v.primaryID())
		ch.changed = append(ch.changed, idx)
	}
	live := func() (int, bool) {
		for range 100 {
			i := rng.IntN(len(g.vulns))
			if !touched[i] && g.vulns[i].withdrawn.IsZero() {
				return i, true
			}
		}
		return 0, false
	}
	for range g.cfg.ModifyPerNight {
		i, ok := live()
		if !ok {
			break
		}
		touched[i] = true
		v := g.vulns[i]
		g.modify(rng, v)
		v.modified = stamp()
		ch.Modified = append(ch.Modified, v.primaryID())
		ch.changed = append(ch.changed, i)
	}
	for range g.cfg.WithdrawPerNight {
		i, ok := live()
		if !ok {
			break
		}
		touched[i] = true
		v := g.vulns[i]
		v.withdrawn = stamp()
		v.modified = v.withdrawn
		ch.Withdrawn = append(ch.Withdrawn, v.primaryID())
		ch.changed = append(ch.changed, i)
	}
	sort.Ints(ch.changed)
	return ch
}

// modify applies one realistic edit: a new reference, a rescored
// severity, a moved fix or an extra affected range.
func (g *Generator) modify(rng *rand.Rand, v *vuln) {
	switch n := rng.IntN(10); {
	case n < 4:
		v.refs = append(v.refs, randRef(rng, v))
	case n < 7:
		v.severity[rng.IntN(len(v.severity))] = uint8(rng.IntN(3))
	case len(v.pkgs) > 0 && len(v.pkgs[0].spans) > 0 && n < 9:
		s := &v.pkgs[0].spans[len(v.pkgs[0].spans)-1]
		s.fixed.patch++
		s.hasFix = true
	case len(v.pkgs) > 0:
		p := &v.pkgs[rng.IntN(len(v.pkgs))]
		p.spans = append(p.spans, randSpan(rng))
		sortSpans(p.spans)
	case len(v.cpeSpans) > 0:
		v.cpeSpans[0].fixed.patch++
		v.cpeSpans[0].hasFix = true
	default:
		v.cpeExact = append(v.cpeExact, randVersion(rng))
		sort.Slice(v.cpeExact, func(i, j int) bool { return v.cpeExact[i].less(v.cpeExact[j]) })
	}
}
