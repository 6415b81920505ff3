package elasticsearch

import (
	"encoding/json"
)

// templateBody is the index template for logweave documents (the shape of
// sinks/document): ids and names as keyword, the event time as date_nanos,
// the message as text with a keyword subfield, and attributes as flattened
// objects so that new attribute keys never grow the mapping. dynamic:
// false keeps fields a newer logweave adds in _source without mapping them
// (and without rejecting documents) until the template is updated.
func templateBody(t Template) ([]byte, error) {
	kw := map[string]any{"type": "keyword"}
	props := map[string]any{
		"@timestamp":     map[string]any{"type": "date_nanos"},
		"record_id":      kw,
		"kind":           kw,
		"service":        kw,
		"level":          kw,
		"severity_text":  kw,
		"message":        map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 1024}}},
		"submit_id":      kw,
		"user_id":        kw,
		"problem_id":     kw,
		"submission_seq": map[string]any{"type": "integer"},
		"lang":           kw,
		"stage":          kw,
		"trace_id":       kw,
		"span_id":        kw,
		"parent_span_id": kw,
		"duration_ms":    map[string]any{"type": "double"},
		"status":         kw,
		"status_message": map[string]any{"type": "text"},
		"span_kind":      kw,
		"span": map[string]any{"properties": map[string]any{
			"join": kw, "name": kw, "stage": kw, "service": kw, "parent_span_id": kw,
			"duration_ms": map[string]any{"type": "double"}, "status": kw, "status_message": map[string]any{"type": "text"},
		}},
		"kept_by":       kw,
		"sample_weight": map[string]any{"type": "double"},
		"namespace":     kw,
		"pod":           kw,
		"node":          kw,
		"cluster":       kw,
		"container":     kw,
		"log_type":      kw,
		"attributes":    map[string]any{"type": "flattened"},
		"resource":      map[string]any{"type": "flattened"},
		"events": map[string]any{"properties": map[string]any{
			"time": map[string]any{"type": "date_nanos"}, "name": kw, "attributes": map[string]any{"type": "flattened"},
		}},
		"source": map[string]any{"properties": map[string]any{
			"topic": kw, "partition": map[string]any{"type": "integer"}, "offset": map[string]any{"type": "long"},
		}},
	}
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
