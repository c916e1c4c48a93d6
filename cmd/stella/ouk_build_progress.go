package main

import (
	"fmt"
	"io"

	"stella-ops.org/ouk/internal/build"
)

// buildProgress shows the progress of a build on stderr. The stages that
// count bytes, reading each feed and writing the kit and the delta, each
// get a transfer: a bar on a terminal, else a "build in progress" log line
// at most once per interval. The other stages replace the bar with a
// status line on a terminal and log nothing elsewhere.
type buildProgress struct {
	g      *globalOptions
	stderr io.Writer
	// lines is set when stderr is a terminal.
	lines *terminalLines
	// output and deltaOutput are the kit and delta files, as the log
	// lines name them.
	output, deltaOutput string
	// stage and feed name the step that current shows.
	stage   build.Stage
	feed    string
	current *transfer
}

// buildStatus is the status line of each build stage that counts no
// bytes. The merge stage's line takes the number of records read.
var buildStatus = map[build.Stage]string{
	build.StageBase:   "building   reading the base kit...",
	build.StageMerge:  "building   read %d records; merging them and writing DB layers...",
	build.StageTables: "building   writing the lookup index tables...",
}

// report is the build.Options.Progress function.
func (p *buildProgress) report(r build.Progress) {
	if r.Stage != p.stage || (r.Stage == build.StageFeeds && r.Name != "" && r.Name != p.feed) {
		p.start(r)
	}
	if p.current != nil && r.Bytes > 0 {
		blob := r.Name
		if r.Stage == build.StageFeeds {
			// The transfer of a feed names the feed already.
			blob = ""
		}
		p.current.add(int(r.Bytes), blob)
	}
}

// start ends the display of the last stage and begins that of r's stage.
func (p *buildProgress) start(r build.Progress) {
	p.stop()
	p.stage, p.feed = r.Stage, r.Name
	switch r.Stage {
	case build.StageFeeds:
		if r.Name == "" {
			// The stage starts, but the transfer waits for the feed that
			// the first file belongs to.
			return
		}
		p.current = p.g.newTransfer(p.stderr, p.lines, "reading feed "+r.Name, -1, "build in progress",
			"output", p.output, "stage", string(r.Stage), "feed", r.Name)
	case build.StageKit:
		p.current = p.g.newTransfer(p.stderr, p.lines, "writing kit", r.Total, "build in progress",
			"output", p.output, "stage", string(r.Stage))
	case build.StageDelta:
		p.current = p.g.newTransfer(p.stderr, p.lines, "writing delta", r.Total, "build in progress",
			"output", p.deltaOutput, "stage", string(r.Stage))
	default:
		status, ok := buildStatus[r.Stage]
		if !ok || p.lines == nil {
			return
		}
		if r.Stage == build.StageMerge {
			status = fmt.Sprintf(status, r.Records)
		}
		p.lines.status(status)
	}
}

// stop ends the display of the current stage and erases its bar or status
// line. It does nothing on a nil *buildProgress.
func (p *buildProgress) stop() {
	if p == nil {
		return
	}
	p.current.stop()
	p.current = nil
	if p.lines != nil {
		p.lines.clear()
	}
}
