package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// verboseError prints extra detail with %+v, as the errors of Pebble print
// their stack traces.
type verboseError struct{}

func (verboseError) Error() string { return "no space left on device" }

func (e verboseError) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		io.WriteString(s, e.Error()+"\nstack trace: goroutine 1 [running]")
		return
	}
	io.WriteString(s, e.Error())
}

func TestLogLinesOmitErrorDetail(t *testing.T) {
	var buf bytes.Buffer
	g := &globalOptions{}
	g.logger(&buf).Warn("compaction failed", "error", verboseError{})
	watchLog, _, _ := watchLoggers(g, &buf)
	watchLog.Warn("round failed", "error", verboseError{})
	out := buf.String()
	if strings.Contains(out, "stack trace") {
		t.Errorf("log lines print the error's detail:\n%s", out)
	}
	if strings.Count(out, "no space left on device") != 2 {
		t.Errorf("log lines lack the error message:\n%s", out)
	}
}
