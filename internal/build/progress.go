package build

import (
	"stella-ops.org/ouk/internal/vulndb"
	"stella-ops.org/ouk/oci/layout"
)

// Stage names a step of a build in its progress reports.
type Stage string

// The stages of a build, in their order.
const (
	// StageBase reads the base kit, when Options.Base is set. It has one
	// report.
	StageBase Stage = "reading base kit"
	// StageFeeds reads the feeds. Its reports count the bytes of the feed
	// files and give no total.
	StageFeeds Stage = "reading feeds"
	// StageMerge merges the records and writes the DB layers. It has one
	// report, with the number of records read.
	StageMerge Stage = "merging records"
	// StageTables builds the pre-built lookup index, when
	// Options.IndexTables is set. It has one report.
	StageTables Stage = "building index tables"
	// StageKit writes the kit file. Its reports count the bytes of the
	// blobs written, with their total before compression.
	StageKit Stage = "writing kit"
	// StageDelta writes the delta file when Options.DeltaOutput is set,
	// with reports as those of StageKit.
	StageDelta Stage = "writing delta"
)

// Progress is one report of how far a build got. The first report of
// each stage has no Name and no Bytes.
type Progress struct {
	Stage Stage
	// Name is the feed of the file just read in StageFeeds, such as osv,
	// and the digest of the blob being written in StageKit and StageDelta.
	Name string
	// Bytes is the number of bytes read or written since the last report.
	Bytes int64
	// Total is the number of bytes that the stage writes, or -1 when it
	// is unknown, as in the stages before StageKit.
	Total int64
	// Records is the number of valid records read from the feeds so far,
	// in StageFeeds and StageMerge.
	Records int
}

// report sends p to Options.Progress, when set.
func (b *builder) report(p Progress) {
	if b.opts.Progress != nil {
		b.opts.Progress(p)
	}
}

// startStage sends the first report of a stage whose total is unknown.
func (b *builder) startStage(stage Stage) {
	b.report(Progress{Stage: stage, Total: -1})
}

// feedProgress returns the vulndb.BuildOptions.Progress function that
// reports the reading of the feeds, then the start of StageMerge, or nil
// when Options.Progress is nil.
func (b *builder) feedProgress() func(vulndb.FeedProgress) {
	if b.opts.Progress == nil {
		return nil
	}
	return func(p vulndb.FeedProgress) {
		if p.Merging {
			b.report(Progress{Stage: StageMerge, Total: -1, Records: p.Records})
			return
		}
		b.report(Progress{Stage: StageFeeds, Name: p.Source, Bytes: p.Bytes, Total: -1, Records: p.Records})
	}
}

// tarProgress returns the layout.TarOptions.Progress function that reports
// the writing of a kit or delta file as stage, or nil when
// Options.Progress is nil.
func (b *builder) tarProgress(stage Stage) func(layout.TarProgress) {
	if b.opts.Progress == nil {
		return nil
	}
	return func(p layout.TarProgress) {
		b.report(Progress{Stage: stage, Name: p.Blob.String(), Bytes: p.Bytes, Total: p.Total})
	}
}
