package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// otlpIDFields are the OTLP/JSON fields that carry ids as hex strings,
// where protojson expects base64 (OTLP/HTTP spec, "JSON Protobuf Encoding"),
// with the name and byte length of the id.
var otlpIDFields = map[string]struct {
	name string
	size int
}{
	"traceId": {"trace_id", 16}, "spanId": {"span_id", 8}, "parentSpanId": {"parent_span_id", 8},
	"trace_id": {"trace_id", 16}, "span_id": {"span_id", 8}, "parent_span_id": {"parent_span_id", 8},
}

// jsonShape is where the records of an OTLP/JSON export request sit: the
// field names of each level, in the lowerCamelCase and the proto spelling
// protojson both accepts.
type jsonShape struct {
	resources, scopes, records [2]string
}

var (
	logsShape   = jsonShape{[2]string{"resourceLogs", "resource_logs"}, [2]string{"scopeLogs", "scope_logs"}, [2]string{"logRecords", "log_records"}}
	tracesShape = jsonShape{[2]string{"resourceSpans", "resource_spans"}, [2]string{"scopeSpans", "scope_spans"}, [2]string{"spans", "spans"}}
)

// unmarshalOTLPJSON decodes OTLP/JSON: protojson with ids in hex instead
// of base64, enums as numbers, and unknown fields ignored as the
// specification requires of receivers. A record whose id is not hex of the
// right length is returned in bad, by its index in the request, with the
// id removed so the rest decodes: it is rejected alone, not the request.
func unmarshalOTLPJSON(b []byte, m proto.Message, shape jsonShape) (bad map[int]rejection, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	// Ids exist only in records (and their span links): the resource and
	// scope levels have none.
	bad = checkRecordIDs(tree, shape)
	fixed, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	return bad, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(fixed, m)
}

// checkRecordIDs walks the records in request order (the order the mapping
// numbers them) and converts their ids from hex to base64. A record with a
// bad id of its own is reported. Bad ids are deleted; a bad one in a span
// link only drops from the link (logweave does not keep links).
func checkRecordIDs(tree any, shape jsonShape) map[int]rejection {
	var bad map[int]rejection
	idx := 0
	for _, res := range jsonArray(tree, shape.resources) {
		for _, scope := range jsonArray(res, shape.scopes) {
			for _, rec := range jsonArray(scope, shape.records) {
				if obj, ok := rec.(map[string]any); ok {
					if rej, ok := recordIDs(obj, true); !ok {
						if bad == nil {
							bad = map[int]rejection{}
						}
						rej.index = idx
						bad[idx] = rej
					}
				}
				idx++
			}
		}
	}
	return bad
}

// jsonArray returns the array under either spelling of a field of n.
func jsonArray(n any, names [2]string) []any {
	obj, ok := n.(map[string]any)
	if !ok {
		return nil
	}
	for _, name := range names {
		if a, ok := obj[name].([]any); ok {
			return a
		}
	}
	return nil
}

// recordIDs converts the ids of one record in place, nested ones (span
// links) included, and deletes bad ones. It reports the first bad id of
// the record itself (own).
func recordIDs(obj map[string]any, own bool) (rejection, bool) {
	var (
		rej rejection
		ok  = true
	)
	report := func(r rejection) {
		if ok && own {
			rej, ok = r, false
		}
	}
	for k, v := range obj {
		if f, isID := otlpIDFields[k]; isID {
			s, isString := v.(string)
			if !isString {
				continue // protojson's error is clearer than ours
			}
			raw, err := hex.DecodeString(s)
			if s != "" && (err != nil || len(raw) != f.size) {
				delete(obj, k)
				reason := reasonBadSpanID
				if f.name == "trace_id" {
					reason = reasonBadTraceID
				}
				report(rejection{reason: reason, err: fmt.Sprintf("%s %q is not %d hex digits", f.name, s, 2*f.size)})
				continue
			}
			obj[k] = base64.StdEncoding.EncodeToString(raw)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			recordIDs(x, false)
		case []any:
			for _, e := range x {
				if m, isObj := e.(map[string]any); isObj {
					recordIDs(m, false)
				}
			}
		}
	}
	return rej, ok
}

// decodeLogs decodes an OTLP logs request body, protobuf or JSON, with
// values from sc (nil: fresh ones); bad are the OTLP/JSON records rejected
// for their ids. OTLP/JSON is decoded into
// the generated OTLP types and re-encoded for the wire decoder, so that
// both encodings share one decoder and one mapping.
func decodeLogs(body []byte, jsonBody bool, sc *requestScratch) (*otlpLogs, map[int]rejection, error) {
	if !jsonBody {
		req, err := decodeOTLPLogs(body, sc)
		return req, nil, err
	}
	var m collogspb.ExportLogsServiceRequest
	bad, err := unmarshalOTLPJSON(body, &m, logsShape)
	if err != nil {
		return nil, nil, err
	}
	wire, err := proto.Marshal(&m)
	if err != nil {
		return nil, nil, err
	}
	req, err := decodeOTLPLogs(wire, sc)
	return req, bad, err
}

// decodeTraces is decodeLogs for a traces request.
func decodeTraces(body []byte, jsonBody bool, sc *requestScratch) (*otlpTraces, map[int]rejection, error) {
	if !jsonBody {
		req, err := decodeOTLPTraces(body, sc)
		return req, nil, err
	}
	var m coltracepb.ExportTraceServiceRequest
	bad, err := unmarshalOTLPJSON(body, &m, tracesShape)
	if err != nil {
		return nil, nil, err
	}
	wire, err := proto.Marshal(&m)
	if err != nil {
		return nil, nil, err
	}
	req, err := decodeOTLPTraces(wire, sc)
	return req, bad, err
}
