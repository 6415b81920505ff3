package document

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// fullSpan is SampleSpan with every optional span field set: a parent, a
// status message, an event with attributes, a container.
func fullSpan() *v1.EnrichedRecord {
	r := SampleSpan()
	sp := r.GetRecord().GetSpan()
	sp.ParentSpanId = []byte{9, 9, 9, 9, 9, 9, 9, 9}
	sp.Status.Message = "compile error"
	sp.Events[0].Attributes = []*v1.KeyValue{{Key: "queue", Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "q1"}}}}
	sp.Resource.Container = "gateway"
	return r
}

// writtenFields renders r and returns each field path Append wrote with
// the problems of its value against the field table.
func writtenFields(t *testing.T, r *v1.EnrichedRecord) (paths map[string]bool, problems []string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(Append(nil, r)))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	paths = map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		f, inTable := FieldByPath(path)
		if arr, ok := v.([]any); ok && (!inTable || f.Type != Flattened) {
			for _, e := range arr { // an array of objects: members keep their path
				walk(path, e)
			}
			return
		}
		if obj, ok := v.(map[string]any); ok && (!inTable || f.Type != Flattened) {
			for k, e := range obj {
				walk(strings.TrimPrefix(path+"."+k, "."), e)
			}
			return
		}
		paths[path] = true
		if !inTable {
			problems = append(problems, fmt.Sprintf("%s (%v) is written but not in the field table", path, v))
			return
		}
		if err := checkValue(f.Type, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
		}
	}
	walk("", doc)
	return paths, problems
}

// checkValue reports whether v is a value of a field mapped as typ.
func checkValue(typ Type, v any) error {
	if v == nil {
		return nil // null: not indexed, accepted by every type
	}
	switch typ {
	case Keyword, Text:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%v is not a string", v)
		}
	case DateNanos:
		s, _ := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("%v is not an RFC 3339 time", v)
		}
	case Integer, Long:
		n, ok := v.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil || (typ == Integer && (i > math.MaxInt32 || i < math.MinInt32)) {
			return fmt.Errorf("%v is not a %s", v, typ)
		}
	case Double:
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%v is not a number", v)
		}
	case Flattened:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("%v is not an object", v)
		}
	default:
		return fmt.Errorf("unknown type %q", typ)
	}
	return nil
}

// TestFields_AppendWritesTheTable proves the field table in both
// directions: every field Append writes (for a joined log, a span, and a
// span with every optional field) is in the table with a value of its
// type, and every field of the table is written by one of them, so the
// index template made from the table maps nothing that is never written.
func TestFields_AppendWritesTheTable(t *testing.T) {
	all := map[string]bool{}
	for name, r := range map[string]*v1.EnrichedRecord{"log": SampleLog(), "span": SampleSpan(), "full span": fullSpan()} {
		paths, problems := writtenFields(t, r)
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
		for p := range paths {
			all[p] = true
		}
	}
	var never []string
	seen := map[string]bool{}
	for _, f := range Fields {
		if seen[f.Path] {
			t.Errorf("%s is in the field table twice", f.Path)
		}
		seen[f.Path] = true
		if !all[f.Path] {
			never = append(never, f.Path)
		}
	}
	sort.Strings(never)
	if len(never) > 0 {
		t.Errorf("in the field table but never written: %v", never)
	}
}

// TestFields_DocsTable: docs/elasticsearch.md lists the field table as it
// is, and its example document is the golden rendering of SampleLog.
func TestFields_DocsTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/elasticsearch.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	var want strings.Builder
	want.WriteString("| field | mapping |\n|---|---|\n")
	for _, f := range Fields {
		m := string(f.Type)
		if f.KeywordSubfield {
			m += " (+ `keyword` subfield)"
		}
		fmt.Fprintf(&want, "| `%s` | %s |\n", f.Path, m)
	}
	if !strings.Contains(page, want.String()) {
		t.Errorf("docs/elasticsearch.md does not hold the field table; it should read:\n%s", want.String())
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "log.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "```json\n"+string(golden)+"```") {
		t.Errorf("docs/elasticsearch.md's example document is not testdata/log.json")
	}
}
