package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"

	"stella-ops.org/ouk/internal/quota"
	"stella-ops.org/ouk/internal/regfile"
)

// configFile is the optional settings file in the store folder.
const configFile = "config.yaml"

// configDocs names where the settings file's keys are described.
const configDocs = `the "Site settings" section of docs/operations.md`

// config holds the site settings read from <store>/config.yaml. Every field
// is optional; absent ones keep their defaults.
type config struct {
	// Quota overrides fields of the scan quota policy.
	Quota *quotaSettings `json:"quota,omitempty"`
	// path is the file the settings came from, for messages.
	path string
	// lines maps the dotted path of each key in the file, such as
	// "quota.anonymousLimit", to its line, for messages about values out
	// of range.
	lines map[string]int
	// warning is a one-line message with the reason that the settings
	// file exists but could not be read, so the defaults apply, or empty.
	warning string
}

// quotaSettings are the quota keys of the settings file. A field is nil
// when its key is absent, which differs from 0, because 0 turns a reminder
// threshold or the slowdown off.
type quotaSettings struct {
	AnonymousLimit   *int     `json:"anonymousLimit"`
	FreeTierLimit    *int     `json:"freeTierLimit"`
	ReminderAt       *int     `json:"reminderAt"`
	ReminderFraction *float64 `json:"reminderFraction"`
	SlowdownFraction *float64 `json:"slowdownFraction"`
}

// loadConfig reads <storeDir>/config.yaml; a missing file gives the defaults.
// A file that exists but cannot be read, such as one that this user may not
// read, also gives the defaults, with config.warning set for the caller to
// print. An invalid file returns an error.
func loadConfig(storeDir string) (config, error) {
	path := filepath.Join(storeDir, configFile)
	raw, err := regfile.ReadFile(path, "a YAML settings file")
	if errors.Is(err, fs.ErrNotExist) {
		// A symbolic link whose target is missing, such as a settings
		// file on a volume that is not mounted, is reported rather than
		// read as no file.
		if target, linkErr := os.Readlink(path); linkErr == nil {
			return config{path: path, warning: fmt.Sprintf("settings file %s is a symbolic link to %s, which does not "+
				"exist, so the quota uses its default settings; restore the target, such as by mounting its volume, "+
				"or remove the link", path, target)}, nil
		}
		return config{}, nil
	}
	if err != nil {
		// The file contains only quota settings, and a scan is never
		// rejected over the quota, so a user who may not read the file
		// still scans, under the default policy.
		// NOTE: a setting that changes what a scan reports would have to
		// stop the scan here instead.
		return config{path: path, warning: unreadableConfigWarning(path, err)}, nil
	}
	cfg := config{path: path}
	if err := decodeYAMLFile(raw, &cfg); err != nil {
		return config{}, fmt.Errorf("settings file %s: %v; fix the file or remove it, and see %s for its keys",
			path, err, configDocs)
	}
	cfg.lines = yamlKeyLines(raw)
	return cfg, nil
}

// yamlKeyLines returns the line of each key of the first document in raw,
// by its dotted path. It is called on a file that decodeYAMLFile accepted.
func yamlKeyLines(raw []byte) map[string]int {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	lines := map[string]int{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := prefix + n.Content[i].Value
			lines[path] = n.Content[i].Line
			walk(n.Content[i+1], path+".")
		}
	}
	walk(doc.Content[0], "")
	return lines
}

// unreadableConfigWarning returns the warning for the settings file path
// that could not be read because of err, with the step that fixes it.
func unreadableConfigWarning(path string, err error) string {
	const effect = "so the quota uses its default settings"
	var notRegular *regfile.NotRegularError
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("settings file %s cannot be read by this user (permission denied), %s; "+
			"let every user who scans read it, such as with `chmod 0644 %s`, or remove it", path, effect, path)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Sprintf("settings file %s is a folder, %s; remove the folder, or put the settings file in its place",
			path, effect)
	case errors.As(err, &notRegular):
		return fmt.Sprintf("settings file %s is a %s, not a regular file, %s; replace it with the settings file or remove it",
			path, regfile.TypeName(notRegular.Mode), effect)
	}
	return fmt.Sprintf("settings file %s cannot be read (%v), %s; check the file and the disk it is on, or remove the file",
		path, err, effect)
}

// decodeYAMLFile decodes a settings document into v, a pointer to a struct
// whose json tags name the keys. It checks every key and value against
// those fields first, so an unknown key, a repeated key or a value of the
// wrong kind is reported by line and key name in YAML terms. A value given
// to a text field keeps its exact spelling: "version: 1.10" stays "1.10".
// A second YAML document with content is an error, because its settings
// would otherwise be ignored.
func decodeYAMLFile(raw []byte, v any) error {
	decoder := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	err := decoder.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("not valid YAML: %s%s", strings.TrimPrefix(err.Error(), "yaml: "), tabIndentHint(raw))
	}
	for {
		var next yaml.Node
		err := decoder.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if !emptyYAMLDocument(&next) {
			return fmt.Errorf("line %d: another YAML document starts here, at a \"---\" line, and its keys "+
				"would be ignored; put every key in one document and remove the \"---\" lines between them", next.Line)
		}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	value, err := yamlValue(doc.Content[0], reflect.TypeOf(v), "")
	if err != nil {
		return err
	}
	if value == nil {
		return nil
	}
	// yamlValue returns only maps, lists, text, whole numbers, finite
	// numbers and booleans in the shape of v, so both steps succeed for the
	// struct types this file decodes.
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encoding the settings: %w", err)
	}
	return json.Unmarshal(b, v)
}

// tabIndentHint returns advice for a YAML file that indents a line with a
// tab, which YAML does not allow and its parser reports only as a
// character that cannot start a token, or "" when no line does.
func tabIndentHint(raw []byte) string {
	for i, line := range strings.Split(string(raw), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") && strings.TrimSpace(line) != "" {
			return fmt.Sprintf("; line %d is indented with a tab, which YAML does not allow: indent with spaces", i+1)
		}
	}
	return ""
}

// emptyYAMLDocument reports whether doc has no content, as a trailing
// "---" line leaves it.
func emptyYAMLDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// yamlValue checks the node n against the Go type t and returns its value
// in the JSON shape t decodes from, or nil for a YAML null. key is the
// dotted path of n, for messages.
func yamlValue(n *yaml.Node, t reflect.Type, key string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return yamlMapping(n, t, key)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil, wrongYAMLKind(n, key, "a list, such as [a, b] or lines starting with \"- \"")
		}
		items := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			value, err := yamlValue(item, t.Elem(), key)
			if err != nil {
				return nil, err
			}
			items = append(items, value)
		}
		return items, nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return nil, wrongYAMLKind(n, key, "a single value")
		}
		return n.Value, nil
	case reflect.Bool:
		return yamlScalar[bool](n, key, "true or false", "!!bool")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if err := checkNumberSpelling(n, key); err != nil {
			return nil, err
		}
		if err := checkWholeNumber(n, key); err != nil {
			return nil, err
		}
		return yamlScalar[int64](n, key, "a whole number", "!!int")
	case reflect.Float32, reflect.Float64:
		if err := checkNumberSpelling(n, key); err != nil {
			return nil, err
		}
		value, err := yamlScalar[float64](n, key, "a number", "!!int", "!!float")
		if err == nil && (math.IsNaN(value.(float64)) || math.IsInf(value.(float64), 0)) {
			return nil, fmt.Errorf("line %d: key %q is %q; give a finite number", n.Line, key, n.Value)
		}
		return value, err
	}
	var value any
	if err := n.Decode(&value); err != nil {
		return nil, fmt.Errorf("line %d: key %q: %s", n.Line, key, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return value, nil
}

// decimalInteger matches a whole number that every YAML version reads
// alike: decimal digits without a leading zero, a base prefix or "_".
var decimalInteger = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)

// decimalNumber matches a number in decimal notation, with an optional
// fraction and exponent.
var decimalNumber = regexp.MustCompile(`^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$`)

// checkNumberSpelling rejects a number in quotes, which YAML reads as
// text, and a whole number in any form other than decimal digits. YAML
// 1.1 reads 017 as octal 15 and 1_000 as 1000, while YAML 1.2 reads 017 as
// 17 and 1_000 as text. The go.yaml.in/yaml/v3 parser, as of v3.0.5,
// reads both the YAML 1.1 way.
func checkNumberSpelling(n *yaml.Node, key string) error {
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	if quoted && decimalNumber.MatchString(strings.TrimSpace(n.Value)) {
		return fmt.Errorf("line %d: key %q is the text %q in quotes; write the number without quotes: %s",
			n.Line, key, n.Value, strings.TrimSpace(n.Value))
	}
	if n.ShortTag() == "!!int" && !decimalInteger.MatchString(n.Value) {
		return fmt.Errorf("line %d: key %q is %s; write the number in plain decimal digits, without a leading 0, "+
			"a 0x, 0o or 0b prefix, or \"_\", because YAML versions read some of these forms differently", n.Line, key, n.Value)
	}
	return nil
}

// checkWholeNumber rejects, with a message that names the fix, a value for
// a whole-number key that YAML reads as a float: a whole number in
// exponent or fraction form, such as 1e3, or one too large for int64.
func checkWholeNumber(n *yaml.Node, key string) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!float" {
		return nil
	}
	if decimalInteger.MatchString(n.Value) {
		return fmt.Errorf("line %d: key %q is %s, outside the range of whole numbers, %d to %d; give a number in that range",
			n.Line, key, n.Value, int64(math.MinInt64), int64(math.MaxInt64))
	}
	var value float64
	if err := n.Decode(&value); err != nil || value != math.Trunc(value) || math.Abs(value) > 1<<53 {
		// yamlScalar reports a fraction, an infinity or NaN.
		return nil
	}
	return fmt.Errorf("line %d: key %q is %s; write the whole number in decimal digits: %d",
		n.Line, key, n.Value, int64(value))
}

// yamlMapping checks a mapping node against the fields of the struct t.
func yamlMapping(n *yaml.Node, t reflect.Type, key string) (any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, wrongYAMLKind(n, key, "a mapping of keys to values")
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" && f.IsExported() {
			fields[name] = f.Type
			names = append(names, name)
		}
	}
	out := map[string]any{}
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		path := name
		if key != "" {
			path = key + "." + name
		}
		if line, dup := firstLine[name]; dup {
			return nil, fmt.Errorf("line %d: key %q is given twice (first on line %d); keep one", k.Line, path, line)
		}
		firstLine[name] = k.Line
		ft, ok := fields[name]
		if !ok {
			return nil, unknownYAMLKey(k.Line, path, names)
		}
		value, err := yamlValue(v, ft, path)
		if err != nil {
			return nil, err
		}
		if value != nil {
			out[name] = value
		}
	}
	return out, nil
}

// yamlScalar decodes a scalar node whose resolved tag is one of tags.
func yamlScalar[T any](n *yaml.Node, key, want string, tags ...string) (any, error) {
	if n.Kind != yaml.ScalarNode || !slices.Contains(tags, n.ShortTag()) {
		return nil, wrongYAMLKind(n, key, want)
	}
	var value T
	if err := n.Decode(&value); err != nil {
		return nil, fmt.Errorf("line %d: key %q is %q; give %s", n.Line, key, n.Value, want)
	}
	return value, nil
}

// wrongYAMLKind reports a value that is not of the kind the key takes.
func wrongYAMLKind(n *yaml.Node, key, want string) error {
	got := fmt.Sprintf("%q", n.Value)
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	}
	if key == "" {
		return fmt.Errorf("line %d: the document is %s; it must be %s", n.Line, got, want)
	}
	return fmt.Errorf("line %d: key %q is %s; give %s", n.Line, key, got, want)
}

// unknownYAMLKey reports a key that is not one of names, suggesting the
// known key it most likely misspells.
func unknownYAMLKey(line int, path string, names []string) error {
	parent, name := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, name = path[:i], path[i+1:]
	}
	where := ""
	if parent != "" {
		where = fmt.Sprintf(" under %q", parent)
	}
	msg := fmt.Sprintf("line %d: unknown key %q%s", line, name, where)
	if guess := closestKey(name, names); guess != "" {
		msg += fmt.Sprintf("; did you mean %q?", guess)
	} else {
		msg += "."
	}
	return fmt.Errorf("%s The keys%s are %s", msg, where, strings.Join(names, ", "))
}

// closestKey returns the name in names that key most likely misspells:
// the one at the smallest edit distance, at most 2, after lower-casing and
// dropping "-" and "_". It returns "" when none is that close.
func closestKey(key string, names []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
	}
	best, bestDistance := "", 3
	for _, n := range names {
		if d := editDistance(norm(key), norm(n)); d < bestDistance {
			best, bestDistance = n, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b: the
// number of single-byte insertions, deletions and substitutions that turn
// a into b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quotaPolicy returns the default policy with the settings file's overrides.
// A key given as 0 overrides its default, and an absent key keeps it.
func (c config) quotaPolicy() (quota.Policy, error) {
	p := quota.DefaultPolicy()
	if c.Quota == nil {
		return p, nil
	}
	o := *c.Quota
	if o.AnonymousLimit != nil {
		p.AnonymousLimit = *o.AnonymousLimit
	}
	if o.FreeTierLimit != nil {
		p.FreeTierLimit = *o.FreeTierLimit
	}
	if o.ReminderAt != nil {
		p.ReminderAt = *o.ReminderAt
	}
	if o.ReminderFraction != nil {
		p.ReminderFraction = *o.ReminderFraction
	}
	if o.SlowdownFraction != nil {
		p.SlowdownFraction = *o.SlowdownFraction
	}
	if err := p.Validate(); err != nil {
		var field *quota.PolicyFieldError
		if errors.As(err, &field) {
			key := "quota." + field.Key
			where := fmt.Sprintf("key %q", key)
			if line, ok := c.lines[key]; ok {
				where = fmt.Sprintf("line %d: %s", line, where)
			}
			return p, fmt.Errorf("settings file %s: %s is %s, but it %s: %w; fix the value or remove the key, "+
				"and see %s for the keys", c.path, where, field.Value, field.Rule, quota.ErrInvalidPolicy, configDocs)
		}
		return p, fmt.Errorf("settings file %s: %w; fix the value or remove it, and see %s for the keys",
			c.path, err, configDocs)
	}
	return p, nil
}
