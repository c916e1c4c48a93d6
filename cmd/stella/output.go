package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
)

// outputFlag is the -o/--output flag of commands with a result.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "result format: text or json")
}

func (o *outputFlag) validate() error {
	o.format = strings.ToLower(o.format)
	switch o.format {
	case "text", "json":
		return nil
	}
	return usagef("--output is %q; use text or json", o.format)
}

func (o *outputFlag) json() bool { return o.format == "json" }

func writeJSON(w io.Writer, v any) error {
	out, err := encodeJSON(v)
	if err != nil {
		return err
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("writing JSON output: %w", err)
	}
	return nil
}

// encodeJSON returns v as writeJSON writes it.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding JSON output: %w", err)
	}
	return escapeC1(buf.Bytes()), nil
}

// escapeC1 writes the C1 control characters (U+0080 to U+009F) of JSON
// text as \u escapes. Go's encoder escapes the C0 ones but passes these
// through, and a terminal that shows the JSON may act on them, as on
// U+009B, which starts an escape sequence. In JSON they can only occur
// inside strings, where the escape means the same character.
func escapeC1(b []byte) []byte {
	if !bytes.Contains(b, []byte{0xc2}) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			out = fmt.Appendf(out, `\u%04x`, rune(b[i+1]))
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// printable replaces control characters, such as terminal escapes carried in
// a kit's annotations, so that text output cannot rewrite the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// displayPath returns path for a message: unchanged when it contains no
// control or format character, else quoted with Go escapes, as the text
// log handler of the watch writes it. A file name can carry a terminal
// escape, which would otherwise clear or retitle the terminal, or a line
// break, which would start a line of its own.
func displayPath(path string) string {
	if strings.IndexFunc(path, isControlOrFormat) < 0 {
		return path
	}
	return strconv.Quote(path)
}

// escapeControl returns s with each control or format character other
// than a line break or tab written as its Go escape, such as \x1b, so that
// an error message that repeats a file name cannot rewrite the terminal.
// Line breaks and tabs stay, because some messages, such as cobra's
// suggestions, are laid out with them.
func escapeControl(s string) string {
	if strings.IndexFunc(s, isEscaped) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !isEscaped(r) {
			b.WriteRune(r)
			continue
		}
		quoted := strconv.QuoteRune(r)
		b.WriteString(quoted[1 : len(quoted)-1])
	}
	return b.String()
}

func isControlOrFormat(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

func isEscaped(r rune) bool { return r != '\n' && r != '\t' && isControlOrFormat(r) }

// oneLine returns s with each line break, tab and other white space
// character other than a plain space replaced by a space. Text from an
// SBOM or a feed record goes into table cells and one-line fields, where
// a line break would start a line that reads as a row of its own and a
// tab would shift the columns.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r != ' ' && unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
}

// textWriter writes text output with every control character other than
// newline and tab replaced, because record text comes from the feeds and
// could otherwise carry terminal escapes that retitle or clear the
// terminal, or hide lines.
type textWriter struct{ w io.Writer }

func (t textWriter) Write(p []byte) (int, error) {
	clean := strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			return '?'
		}
		return r
	}, string(p))
	if _, err := io.WriteString(t.w, clean); err != nil {
		return 0, err
	}
	return len(p), nil
}
