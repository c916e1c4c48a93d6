package vulndb

// pkgAffected is what a package index key stores for each affected entry
// of a record that names the package: just enough to match a queried
// version without reading and decoding the whole record.
type pkgAffected struct {
	// Ecosystem is the entry's full ecosystem, with any ":release" suffix.
	Ecosystem string     `json:"e"`
	Ranges    []pkgRange `json:"r,omitempty"`
	Versions  []string   `json:"v,omitempty"`
}

// pkgRange is a SEMVER or ECOSYSTEM range of an affected entry. GIT ranges
// are left out because they name commits, which version lookups skip.
type pkgRange struct {
	Type   string  `json:"t"`
	Events []Event `json:"ev"`
}

func newPkgAffected(a *Affected) pkgAffected {
	p := pkgAffected{Ecosystem: a.Package.Ecosystem, Versions: a.Versions}
	for _, rg := range a.Ranges {
		if rg.Type == "SEMVER" || rg.Type == "ECOSYSTEM" {
			p.Ranges = append(p.Ranges, pkgRange{Type: rg.Type, Events: rg.Events})
		}
	}
	return p
}

// affected rebuilds the matching part of the affected entry.
func (p *pkgAffected) affected() Affected {
	a := Affected{Package: Package{Ecosystem: p.Ecosystem}, Versions: p.Versions}
	for _, rg := range p.Ranges {
		a.Ranges = append(a.Ranges, Range{Type: rg.Type, Events: rg.Events})
	}
	return a
}
