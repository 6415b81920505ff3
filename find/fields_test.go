package find

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/sinks/document"
)

// TestDoc_ReadsFieldsTheWriterWrites: every field find decodes from a
// document, and every field its query filters and sorts on, is a field of
// the document's table (what the sink writes and the template maps), with
// a Go type that can hold the field's values.
func TestDoc_ReadsFieldsTheWriterWrites(t *testing.T) {
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			sf := typ.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Errorf("Doc.%s has no json name", sf.Name)
				continue
			}
			path := strings.TrimPrefix(prefix+"."+name, ".")
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
				walk(path, ft)
				continue
			}
			f, ok := document.FieldByPath(path)
			if !ok {
				t.Errorf("find reads %s, which the document does not have", path)
				continue
			}
			if !holds(sf.Type, f.Type) {
				t.Errorf("find reads %s (%s) into a %s", path, f.Type, sf.Type)
			}
		}
	}
	walk("", reflect.TypeOf(Doc{}))

	for _, q := range []Query{{SubmitID: "S1"}, {User: "U1", Seq: 7}, {TraceID: "AB"}} {
		b, err := q.body()
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Query struct {
				Bool struct {
					Filter []struct {
						Term map[string]any `json:"term"`
					} `json:"filter"`
				} `json:"bool"`
			} `json:"query"`
			Sort []map[string]any `json:"sort"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		var used []string
		for _, f := range body.Query.Bool.Filter {
			for k := range f.Term {
				used = append(used, k)
			}
		}
		for _, s := range body.Sort {
			for k := range s {
				used = append(used, k)
			}
		}
		if len(used) < 2 {
			t.Fatalf("query %+v: found no fields in %s", q, b)
		}
		for _, path := range used {
			if f, ok := document.FieldByPath(path); !ok || (f.Type != document.Keyword && f.Type != document.Integer && f.Type != document.DateNanos) {
				t.Errorf("query %+v filters or sorts on %s, which is not a keyword, integer or date field of the document (%+v)", q, path, f)
			}
		}
	}
}

// holds reports whether a Go value of type g decodes the JSON values of a
// field mapped as typ.
func holds(g reflect.Type, typ document.Type) bool {
	switch typ {
	case document.Keyword, document.Text:
		return g.Kind() == reflect.String
	case document.DateNanos:
		return g == reflect.TypeOf(time.Time{}) || g.Kind() == reflect.String
	case document.Integer, document.Long:
		return g.Kind() >= reflect.Int && g.Kind() <= reflect.Int64
	case document.Double:
		return g.Kind() == reflect.Float64
	}
	return false
}
