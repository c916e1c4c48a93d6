package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"stella-ops.org/ouk/internal/vulndb"
)

// Values of `stella scan --sort`.
const (
	sortByPackage  = "package"
	sortBySeverity = "severity"
)

// findingSeverity is the severity of a finding's record, as
// vulndb.Record.SeverityRating chooses it.
type findingSeverity struct {
	// SeverityScore is the CVSS base score of CVSSVector, computed from
	// the vector. It is left out when no vector of the record could be
	// scored.
	SeverityScore *float64 `json:"severityScore,omitempty"`
	// SeverityRating is NONE, LOW, MEDIUM, HIGH or CRITICAL: the rating
	// of SeverityScore, or the source's rating word.
	SeverityRating string `json:"severityRating,omitempty"`
	// CVSSVersion and CVSSVector name the vector that SeverityScore or
	// SeverityNote is about.
	CVSSVersion string `json:"cvssVersion,omitempty"`
	CVSSVector  string `json:"cvssVector,omitempty"`
	// CVSSNomenclature is "CVSS-B" for a CVSS v4.0 score, which is
	// computed from the base metrics alone.
	CVSSNomenclature string `json:"cvssNomenclature,omitempty"`
	// SeverityNote is the reason the vector has no score, such as the
	// error of an invalid vector.
	SeverityNote string `json:"severityNote,omitempty"`
}

func newFindingSeverity(r vulndb.Record) findingSeverity {
	s := r.SeverityRating()
	return findingSeverity{SeverityScore: s.Score, SeverityRating: s.Rating, CVSSVersion: s.CVSSVersion,
		CVSSVector: s.Vector, CVSSNomenclature: s.CVSSNomenclature, SeverityNote: s.Note}
}

// rating returns the severity as a vulndb.SeverityRating.
func (s findingSeverity) rating() vulndb.SeverityRating {
	return vulndb.SeverityRating{Score: s.SeverityScore, Rating: s.SeverityRating, CVSSVersion: s.CVSSVersion,
		Vector: s.CVSSVector, CVSSNomenclature: s.CVSSNomenclature, Note: s.SeverityNote}
}

// severityColumn returns the text of the scan table's SEVERITY column.
func (s findingSeverity) severityColumn() string {
	return severityText(s.rating())
}

// severityText writes a rating for text output: "9.8 CRITICAL" with a
// score, the rating word alone without one, "no score (CVSS 4.0)" for an
// unscored vector without a rating, and "-" when there is nothing to show.
// A score that leaves out threat or environmental metrics of its vector is
// labelled with its name, as in "9.3 CRITICAL, CVSS-B".
func severityText(s vulndb.SeverityRating) string {
	switch {
	case s.Score != nil && s.OmitsVectorMetrics():
		return fmt.Sprintf("%.1f %s, %s", *s.Score, s.Rating, s.CVSSNomenclature)
	case s.Score != nil:
		return fmt.Sprintf("%.1f %s", *s.Score, s.Rating)
	case s.Rating != "":
		return s.Rating
	case s.CVSSVersion != "":
		return "no score (CVSS " + s.CVSSVersion + ")"
	}
	return "-"
}

// sortFindingsBySeverity orders findings by rating, highest first, then
// by score within a rating, with a rating without a score last, then by
// package and record ID. NVD rates CVSS v2.0 scores no higher than HIGH,
// so a v2.0 score of 10.0 sorts below a v3.x score of 9.0.
func sortFindingsBySeverity(findings []finding) {
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i].rating(), findings[j].rating()
		if a.Rank() != b.Rank() {
			return a.Rank() > b.Rank()
		}
		if sa, sb := scoreOrMinus(a), scoreOrMinus(b); sa != sb {
			return sa > sb
		}
		if findings[i].Package != findings[j].Package {
			return findings[i].Package < findings[j].Package
		}
		return findings[i].ID < findings[j].ID
	})
}

// scoreOrMinus returns the score of s, or -1 when it has none, so that
// unscored ratings sort after scored ones.
func scoreOrMinus(s vulndb.SeverityRating) float64 {
	if s.Score == nil {
		return -1
	}
	return *s.Score
}

// printRecordSeverity writes the severity lines of `stella db lookup`:
// one per severity of the record, with the base score and rating of a
// CVSS vector after it, and one for the source's rating word.
func printRecordSeverity(w io.Writer, r vulndb.Record) {
	for _, sev := range r.Severity {
		if sev.Type == "Ubuntu" {
			fmt.Fprintf(w, "  severity   %s (Ubuntu priority)\n", sev.Score)
			continue
		}
		s := vulndb.ScoreVector(sev.Score)
		switch {
		case s.Score != nil:
			fmt.Fprintf(w, "  severity   %s (%s)\n", s.Vector, severityText(s))
		case s.Note != "":
			fmt.Fprintf(w, "  severity   %s (%s)\n", s.Vector, s.Note)
		}
	}
	var word string
	if json.Unmarshal(r.DatabaseSpecific["severity"], &word) == nil && word != "" {
		fmt.Fprintf(w, "  severity   %s (the source's rating)\n", word)
	}
}
