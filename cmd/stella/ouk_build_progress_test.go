package main

import (
	"bytes"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/build"
)

// On a terminal, a build shows a bar for each feed and for the kit, and a
// status line for each stage that counts no bytes.
func TestBuildProgressTerminal(t *testing.T) {
	var out syncBuffer
	lines := &terminalLines{w: &out}
	p := &buildProgress{g: &globalOptions{}, stderr: lines, lines: lines, output: "kit.tar"}
	const blob = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	steps := []struct {
		report build.Progress
		want   string
	}{
		{build.Progress{Stage: build.StageBase, Total: -1}, "building   reading the base kit..."},
		{build.Progress{Stage: build.StageFeeds, Total: -1}, ""},
		{build.Progress{Stage: build.StageFeeds, Name: "osv", Bytes: 800, Total: -1, Records: 2}, "reading feed osv"},
		{build.Progress{Stage: build.StageFeeds, Name: "nvd", Bytes: 900, Total: -1, Records: 3}, "reading feed nvd"},
		{build.Progress{Stage: build.StageMerge, Total: -1, Records: 3},
			"building   read 3 records; merging them and writing DB layers..."},
		{build.Progress{Stage: build.StageKit, Total: 4000}, "writing kit"},
		{build.Progress{Stage: build.StageKit, Name: blob, Bytes: 4000, Total: 4000}, ""},
	}
	for _, step := range steps {
		before := len(out.String())
		p.report(step.report)
		if added := out.String()[before:]; !strings.Contains(added, step.want) {
			t.Errorf("report %+v shows %q, want it to contain %q", step.report, added, step.want)
		}
	}
	p.stop()
	if !strings.HasSuffix(out.String(), eraseLine) {
		t.Errorf("stop leaves %q, want the line erased", out.String())
	}
}

// Off a terminal, the stages that count no bytes log nothing, because a
// log line is due only when bytes arrive.
func TestBuildProgressLogSkipsStatus(t *testing.T) {
	var out bytes.Buffer
	p := &buildProgress{g: &globalOptions{}, stderr: &out, output: "kit.tar"}
	for _, stage := range []build.Stage{build.StageBase, build.StageMerge, build.StageTables} {
		p.report(build.Progress{Stage: stage, Total: -1})
	}
	p.stop()
	if out.Len() != 0 {
		t.Errorf("the stages without bytes logged:\n%s", out.String())
	}
}
