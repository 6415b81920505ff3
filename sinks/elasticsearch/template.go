package elasticsearch

import (
	"encoding/json"
	"strings"

	"github.com/logweave/logweave/sinks/document"
)

// templateBody is the index template for logweave documents, made from
// the document's field table (document.Fields): ids and names as keyword,
// the event time as date_nanos, the message as text with a keyword
// subfield, and attributes as flattened objects so that new attribute keys
// never grow the mapping. dynamic: false keeps fields a newer logweave
// adds in _source without mapping them (and without rejecting documents)
// until the template is updated.
func templateBody(t Template) ([]byte, error) {
	props := mappingProperties(document.Fields)
	settings := map[string]any{"number_of_shards": t.Shards, "number_of_replicas": t.Replicas}
	if t.ILMPolicy != "" {
		settings["index.lifecycle.name"] = t.ILMPolicy
	}
	return json.Marshal(map[string]any{
		"index_patterns": t.Patterns,
		"priority":       200,
		"template": map[string]any{
			"settings": settings,
			"mappings": map[string]any{"dynamic": false, "properties": props},
		},
		"_meta": map[string]any{"managed_by": "logweave"},
	})
}

// mappingProperties is the properties of a mapping of fields: a dotted
// path becomes an object with properties.
func mappingProperties(fields []document.Field) map[string]any {
	props := map[string]any{}
	for _, f := range fields {
		m := map[string]any{"type": string(f.Type)}
		if f.KeywordSubfield {
			m["fields"] = map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 1024}}
		}
		parent := props
		names := strings.Split(f.Path, ".")
		for _, name := range names[:len(names)-1] {
			obj, _ := parent[name].(map[string]any)
			if obj == nil {
				obj = map[string]any{"properties": map[string]any{}}
				parent[name] = obj
			}
			parent = obj["properties"].(map[string]any)
		}
		parent[names[len(names)-1]] = m
	}
	return props
}
