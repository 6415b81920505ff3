// Package yamlstrict decodes YAML into Go structs strictly: unknown keys
// and values of the wrong type are errors that name the full field path
// and line, and ${VAR} / ${VAR:-default} references in values are expanded
// from the environment ($$ is a literal $).
package yamlstrict

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	openType        = reflect.TypeOf(Open{})
)

// Open, embedded in a struct with the tag `yaml:",inline"`, lets the
// struct's mapping hold keys besides its fields' keys, such as a sink
// entry's destination section, whose key is a value of the entry (its
// type). Decode leaves those keys unchecked and their values unexpanded;
// the struct's UnmarshalYAML keeps their nodes, and the caller decodes them
// with DecodeNode and reports the ones it does not know with UnknownKey.
type Open struct{}

// Decode decodes the YAML document b into dst, a pointer to a struct whose
// current values are the defaults: keys the document omits keep them.
// getenv resolves ${VAR} references.
func Decode(b []byte, dst any, getenv func(string) string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("parsing yaml: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty document: all defaults
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if err := check(root, reflect.TypeOf(dst).Elem(), "", getenv); err != nil {
		return err
	}
	if err := root.Decode(dst); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	return nil
}

// DecodeNode decodes n, a part of a document that Decode left unchecked
// (see Open), into dst as Decode does: path is where n sits in the
// document, for the errors.
func DecodeNode(n *yaml.Node, dst any, path string, getenv func(string) string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if err := check(n, reflect.TypeOf(dst).Elem(), path, getenv); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		return fmt.Errorf("%s: decoding: %w", path, err)
	}
	return nil
}

// Keys returns the keys the struct type t takes, sorted.
func Keys(t reflect.Type) []string {
	fields := map[string]reflect.Type{}
	collectFields(t, fields)
	return sortedKeys(fields)
}

// UnknownKey is the error for key, at line, in the mapping at path, which
// takes the allowed keys.
func UnknownKey(path, key string, line int, allowed []string) error {
	return fmt.Errorf("%s: unknown key (line %d); allowed keys%s: %s", join(path, key), line, under(path), strings.Join(allowed, ", "))
}

// check walks the document against the Go type it will be decoded into. It
// expands environment references in scalar values, rejects unknown keys and
// checks scalar types, so that every error carries the full field path
// rather than yaml's "cannot unmarshal" with a line number only.
func check(n *yaml.Node, t reflect.Type, path string, getenv func(string) string) error {
	if n.Kind == yaml.AliasNode {
		return check(n.Alias, t, path, getenv)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // explicit null keeps the default
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind == yaml.ScalarNode && reflect.PointerTo(t).Implements(unmarshalerType) {
			// A struct with a scalar form of its own (a route's match
			// condition): its UnmarshalYAML reads the value.
			return expandNode(n, path, getenv)
		}
		return checkStruct(n, t, path, getenv)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: expected a mapping (line %d)", path, n.Line)
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), getenv))
		}
		return errors.Join(errs...)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: expected a list (line %d)", path, n.Line)
		}
		var errs []error
		for i, c := range n.Content {
			errs = append(errs, check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), getenv))
		}
		return errors.Join(errs...)
	case reflect.Pointer:
		return check(n, t.Elem(), path, getenv)
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: expected a single value, not a %s (line %d)", path, kindName(n.Kind), n.Line)
	}
	if err := expandNode(n, path, getenv); err != nil {
		return err
	}
	return checkScalar(n, t, path)
}

func checkStruct(n *yaml.Node, t reflect.Type, path string, getenv func(string) string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: expected a mapping (line %d)", orRoot(path), n.Line)
	}
	fields := map[string]reflect.Type{}
	open := collectFields(t, fields)
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		switch {
		case seen[k.Value]:
			errs = append(errs, fmt.Errorf("%s: set twice (line %d)", join(path, k.Value), k.Line))
		case !ok && open:
			seen[k.Value] = true // the value is left to the caller (see Open)
		case !ok:
			errs = append(errs, UnknownKey(path, k.Value, k.Line, sortedKeys(fields)))
		default:
			seen[k.Value] = true
			errs = append(errs, check(n.Content[i+1], ft, join(path, k.Value), getenv))
		}
	}
	return errors.Join(errs...)
}

// collectFields maps the yaml keys of t's fields to their types, with the
// fields of `yaml:",inline"` structs merged in. It reports whether t takes
// other keys too (an inline Open).
func collectFields(t reflect.Type, fields map[string]reflect.Type) (open bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type == openType {
			open = true
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			open = collectFields(f.Type, fields) || open
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = f.Type
	}
	return open
}

func checkScalar(n *yaml.Node, t reflect.Type, path string) error {
	v := n.Value
	switch {
	case t == durationType:
		d, err := time.ParseDuration(v)
		if err != nil || (n.Tag == "!!int" && v != "0") {
			return fmt.Errorf("%s: invalid duration %q (line %d): use a number with a unit, e.g. 500ms, 30s, 5m, 1h", path, v, n.Line)
		}
		// Hand yaml a canonical form it decodes the same way.
		n.Value, n.Tag, n.Style = d.String(), "!!str", 0
	case t.Kind() == reflect.Bool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%s: %q is not a boolean (line %d): use true or false", path, v, n.Line)
		}
		n.Tag = "!!bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if _, err := strconv.ParseInt(v, 10, t.Bits()); err != nil {
			return fmt.Errorf("%s: %q is not an integer that fits in %d bits (line %d)", path, v, t.Bits(), n.Line)
		}
		n.Tag = "!!int"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		if _, err := strconv.ParseUint(v, 10, t.Bits()); err != nil {
			return fmt.Errorf("%s: %q is not a non-negative integer that fits in %d bits (line %d)", path, v, t.Bits(), n.Line)
		}
		n.Tag = "!!int"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if _, err := strconv.ParseFloat(v, t.Bits()); err != nil {
			return fmt.Errorf("%s: %q is not a number (line %d)", path, v, n.Line)
		}
		n.Tag = "!!float"
	case t.Kind() == reflect.String:
		// Any scalar is a fine string; "yes" or 8080 must not turn into
		// a bool or an int on the way.
		n.Tag = "!!str"
	}
	return nil
}

// expandNode expands ${VAR}, ${VAR:-default} and $$ in a scalar value.
func expandNode(n *yaml.Node, path string, getenv func(string) string) error {
	if !strings.Contains(n.Value, "$") {
		return nil
	}
	var b strings.Builder
	s := n.Value
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$$"):
			b.WriteByte('$')
			s = s[2:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return fmt.Errorf("%s: unterminated ${ in %q (line %d)", path, n.Value, n.Line)
			}
			name, def, hasDef := strings.Cut(s[2:end], ":-")
			if !validEnvName(name) {
				return fmt.Errorf("%s: %q is not an environment variable name (line %d)", path, name, n.Line)
			}
			val := getenv(name)
			if val == "" {
				if !hasDef {
					return fmt.Errorf("%s: environment variable %s is not set (line %d); use ${%s:-default} for a default", path, name, n.Line, name)
				}
				val = def
			}
			b.WriteString(val)
			s = s[end+1:]
		default:
			b.WriteByte('$')
			s = s[1:]
		}
	}
	n.Value = b.String()
	return nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func under(path string) string {
	if path == "" {
		return ""
	}
	return " under " + path
}

func sortedKeys(m map[string]reflect.Type) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}
