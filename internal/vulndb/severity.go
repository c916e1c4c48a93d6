package vulndb

import (
	"encoding/json"
	"strings"

	"stella-ops.org/ouk/internal/cvss"
)

// SeverityRating is the severity that reports show for a record: a CVSS
// base score and its rating, or a rating word from the source alone.
type SeverityRating struct {
	// Score is the CVSS base score, computed from Vector. It is nil when
	// no vector of the record could be scored.
	Score *float64 `json:"score,omitempty"`
	// Rating is NONE, LOW, MEDIUM, HIGH or CRITICAL, or "" when the
	// record gives neither a vector that could be scored nor a rating.
	Rating string `json:"rating,omitempty"`
	// CVSSVersion is the CVSS version of Vector: "2.0", "3.0", "3.1" or
	// "4.0".
	CVSSVersion string `json:"cvss_version,omitempty"`
	// CVSSNomenclature is "CVSS-B" for a CVSS v4.0 score: the v4.0
	// specification's name for a score of the base metrics alone. It is
	// "" without a score and for other versions.
	CVSSNomenclature string `json:"cvss_nomenclature,omitempty"`
	// Vector is the CVSS vector that Score, or the note, is about.
	Vector string `json:"vector,omitempty"`
	// Note is the reason Vector has no score, such as the error of an
	// invalid vector.
	Note string `json:"note,omitempty"`
}

// Rank orders ratings for sorting: CRITICAL 5 down to NONE 1, and 0
// for no rating.
func (s SeverityRating) Rank() int {
	switch s.Rating {
	case cvss.RatingCritical:
		return 5
	case cvss.RatingHigh:
		return 4
	case cvss.RatingMedium:
		return 3
	case cvss.RatingLow:
		return 2
	case cvss.RatingNone:
		return 1
	}
	return 0
}

// SeverityRating returns the severity to report for r. It takes, in this
// order:
//
//  1. the base score of the first CVSS v3.1 or v3.0 vector in r.Severity;
//  2. the base score of the first CVSS v4.0 vector;
//  3. the rating word of the source, from database_specific.severity
//     (GHSA writes LOW, MODERATE, HIGH or CRITICAL, and NVD records keep
//     there the rating of a lone CVSS v4.0 vector) or from a severity of
//     OSV type "Ubuntu", with MODERATE read as MEDIUM;
//  4. the base score of the first CVSS v2.0 vector.
//
// When the rating word is taken and a vector could not be scored, such
// as a partial CVSS v4.0 vector, the first such vector and the reason are
// returned beside the word. When r.Severity is empty, the severities of
// r's affected entries are used in its place.
//
// The score is computed from the vector because the DB keeps the vectors
// of NVD records but not NVD's baseScore. NVD computes its score from the
// same vector, and the tests of package cvss compare the two.
func (r *Record) SeverityRating() SeverityRating {
	severities := r.Severity
	if len(severities) == 0 {
		for _, a := range r.Affected {
			severities = append(severities, a.Severity...)
		}
	}
	var v2, v4, unscored SeverityRating
	word := ratingWord(r.DatabaseSpecific["severity"])
	for _, s := range severities {
		if s.Type == "Ubuntu" {
			if word == "" {
				word = normalizeRating(s.Score)
			}
			continue
		}
		rating := ScoreVector(s.Score)
		switch {
		case rating.Score != nil && strings.HasPrefix(rating.CVSSVersion, "3."):
			return rating
		case rating.Score != nil && rating.CVSSVersion == cvss.V40 && v4.Vector == "":
			v4 = rating
		case rating.Score != nil && rating.CVSSVersion == cvss.V2 && v2.Vector == "":
			v2 = rating
		case rating.Score == nil && unscored.Vector == "":
			unscored = rating
		}
	}
	switch {
	case v4.Vector != "":
		return v4
	case word != "":
		unscored.Rating = word
		return unscored
	case v2.Vector != "":
		return v2
	}
	return unscored
}

// ScoreVector computes the base score and rating of one CVSS vector. A
// vector that cannot be scored gives no Score, and the reason in Note. Its
// CVSSVersion is still set when the vector's "CVSS:x.y/" prefix names a
// supported version, as for a partial CVSS v4.0 vector. Vector is set
// without surrounding whitespace, which cvss.Parse ignores.
func ScoreVector(vector string) SeverityRating {
	out := SeverityRating{Vector: strings.TrimSpace(vector)}
	v, err := cvss.Parse(vector)
	if err != nil {
		out.CVSSVersion = cvss.PrefixVersion(out.Vector)
		out.Note = err.Error()
		return out
	}
	out.CVSSVersion = v.Version
	score, err := v.BaseScore()
	if err != nil {
		out.Note = err.Error()
		return out
	}
	base := score.Base
	out.Score, out.Rating, out.CVSSNomenclature = &base, score.Rating, score.Nomenclature
	return out
}

// OmitsVectorMetrics reports whether Score leaves out threat or
// environmental metrics that Vector sets, so that Score may differ from
// the score of the whole vector. Text output then labels Score with
// CVSSNomenclature.
func (s SeverityRating) OmitsVectorMetrics() bool {
	if s.Score == nil || s.CVSSNomenclature == "" {
		return false
	}
	v, err := cvss.Parse(s.Vector)
	return err == nil && v.SetsThreatOrEnvironmentalMetrics()
}

// ratingWord returns the rating word of a database_specific.severity
// value, or "" when it is not a JSON string that names a rating.
func ratingWord(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return normalizeRating(s)
}

// normalizeRating maps a rating word, in any case, to the CVSS rating
// names. GHSA's MODERATE is MEDIUM. Other words, such as Ubuntu's
// "negligible", give "".
func normalizeRating(word string) string {
	switch strings.ToUpper(strings.TrimSpace(word)) {
	case "CRITICAL":
		return cvss.RatingCritical
	case "HIGH":
		return cvss.RatingHigh
	case "MODERATE", "MEDIUM":
		return cvss.RatingMedium
	case "LOW":
		return cvss.RatingLow
	}
	return ""
}

// WithSeverityRating returns a copy of r with
// database_specific.stellaops.severity_rating set to r.SeverityRating(),
// for output. Like the possibly affected mark, it is set only in lookup
// output and never stored. The copy shares every field but
// database_specific with r.
func WithSeverityRating(r Record) Record {
	return withStellaOpsField(r, "severity_rating", r.SeverityRating())
}

// withStellaOpsField returns a copy of r with key set to value in
// database_specific.stellaops.
func withStellaOpsField(r Record, key string, value any) Record {
	ext := map[string]json.RawMessage{}
	if raw, ok := r.DatabaseSpecific[dbKey]; ok {
		// Build writes this value as a JSON object. One that does not
		// decode is replaced by an object with only the new key.
		_ = json.Unmarshal(raw, &ext)
	}
	ext[key], _ = marshalJSON(value)
	ds := make(map[string]json.RawMessage, len(r.DatabaseSpecific)+1)
	for k, v := range r.DatabaseSpecific {
		ds[k] = v
	}
	ds[dbKey], _ = marshalJSON(ext)
	r.DatabaseSpecific = ds
	return r
}
