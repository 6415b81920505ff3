package elasticsearch

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestTemplateBody_MatchesTestdata: the index template, made from the
// document's field table, is testdata/template.json, the template the
// hand-written mapping it replaced produced (edit the file with a
// deliberate change of the mapping).
func TestTemplateBody_MatchesTestdata(t *testing.T) {
	b, err := templateBody(Default().Template)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/template.json")
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("template differs from testdata/template.json:\n%s", b)
	}
}
