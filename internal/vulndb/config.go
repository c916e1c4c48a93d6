package vulndb

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

// Config is the DB config blob (media type oci.MediaTypeDBConfig).
type Config struct {
	// Schema is oci.SchemaVersion of the build.
	Schema string `json:"schema"`
	// Created is the build time.
	Created time.Time `json:"created"`
	// Records is the number of records in the DB.
	Records int `json:"records"`
	// Ecosystems counts records per ecosystem.
	Ecosystems map[string]int `json:"ecosystems"`
	// Sources are the feeds with their snapshot times.
	Sources []SourceInfo `json:"sources"`
	// Layers is the layer stack, oldest first.
	Layers []LayerInfo `json:"layers"`
}

// LayerInfo describes one layer of the stack.
type LayerInfo struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Kind      string `json:"kind"`
	Ecosystem string `json:"ecosystem,omitempty"`
	Records   int    `json:"records"`
}

func newConfig(created time.Time, sum *Summary, layers []Layer) ([]byte, error) {
	c := Config{
		Schema:     oci.SchemaVersion,
		Created:    created.UTC(),
		Records:    sum.Records,
		Ecosystems: sum.Ecosystems,
		Sources:    append([]SourceInfo(nil), sum.Sources...),
	}
	sort.SliceStable(c.Sources, func(i, j int) bool {
		if c.Sources[i].Kind != c.Sources[j].Kind {
			return c.Sources[i].Kind < c.Sources[j].Kind
		}
		if c.Sources[i].Name != c.Sources[j].Name {
			return c.Sources[i].Name < c.Sources[j].Name
		}
		if c.Sources[i].Input != c.Sources[j].Input {
			return c.Sources[i].Input < c.Sources[j].Input
		}
		// Two feeds of one kind and name sort by their content, so the
		// order of --feed flags never changes the config's bytes.
		if !c.Sources[i].Snapshot.Equal(c.Sources[j].Snapshot) {
			return c.Sources[i].Snapshot.Before(c.Sources[j].Snapshot)
		}
		if c.Sources[i].Records != c.Sources[j].Records {
			return c.Sources[i].Records < c.Sources[j].Records
		}
		if c.Sources[i].Skipped != c.Sources[j].Skipped {
			return c.Sources[i].Skipped < c.Sources[j].Skipped
		}
		return compareEcosystemCounts(c.Sources[i].Ecosystems, c.Sources[j].Ecosystems) < 0
	})
	for _, l := range layers {
		c.Layers = append(c.Layers, layerInfo(l.Descriptor.Digest.String(), l.Descriptor.Size,
			l.Descriptor.Annotations))
	}
	b, err := marshalJSON(c)
	if err != nil {
		return nil, fmt.Errorf("encoding DB config: %w", err)
	}
	return b, nil
}

// compareEcosystemCounts orders two per-ecosystem record counts by their
// ecosystems in byte order, then by the count of the first ecosystem that
// differs. It returns -1, 0 or +1.
func compareEcosystemCounts(a, b map[string]int) int {
	keysA, keysB := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))
	if c := slices.Compare(keysA, keysB); c != 0 {
		return c
	}
	for _, k := range keysA {
		if c := cmp.Compare(a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

func layerInfo(dgst string, size int64, ann map[string]string) LayerInfo {
	n, _ := strconv.Atoi(ann[oci.AnnotationLayerRecords])
	return LayerInfo{Digest: dgst, Size: size, Kind: ann[oci.AnnotationLayerKind],
		Ecosystem: ann[oci.AnnotationLayerEcosystem], Records: n}
}

// ParseConfig decodes a DB config blob.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("decoding DB config: %v: %w", err, errdef.ErrInvalidKit)
	}
	return c, nil
}
