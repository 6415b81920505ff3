package ingest

import (
	"net/http"
	"strings"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Regression (issue 12 item 7): one OTLP/JSON record whose id is not hex
// used to fail the whole request with 400; it must reject that record
// alone, as an id of the wrong length already did.
func TestIngest_OTLPJSONMalformedIDRejectsOnlyThatRecord(t *testing.T) {
	e := newTestEnv(t, nil)
	logs := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[
		{"timeUnixNano":"1799999000000000000","body":{"stringValue":"good"},"traceId":"0af7651916cd43dd8448eb211c80319c","attributes":[{"key":"submit_id","value":{"stringValue":"S1"}}]},
		{"timeUnixNano":"1799999000000000001","body":{"stringValue":"not hex"},"traceId":"zz0af7651916cd43dd8448eb211c8031"},
		{"timeUnixNano":"1799999000000000002","body":{"stringValue":"odd length"},"spanId":"b7ad6b716920333"},
		{"timeUnixNano":"1799999000000000003","body":{"stringValue":"also good"},"spanId":"b7ad6b7169203331"}
	]}]}]}`
	code, hdr, resp := e.post("/v1/logs", "application/json", []byte(logs), nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", code, hdr.Get("Content-Type"), resp)
	}
	var lr collogspb.ExportLogsServiceResponse
	if err := protojson.Unmarshal(resp, &lr); err != nil {
		t.Fatal(err)
	}
	ps := lr.GetPartialSuccess()
	if ps.GetRejectedLogRecords() != 2 {
		t.Fatalf("partial success = %v, want 2 rejected", ps)
	}
	for _, frag := range []string{"2 log records rejected", `log record 1: trace_id "zz0af7651916cd43dd8448eb211c8031" is not 32 hex digits`,
		`log record 2: span_id "b7ad6b716920333" is not 16 hex digits`} {
		if !strings.Contains(ps.GetErrorMessage(), frag) {
			t.Errorf("message %q lacks %q", ps.GetErrorMessage(), frag)
		}
	}
	bodies := map[string]bool{}
	for _, r := range e.records(2) {
		bodies[decodeEnvelope(t, r.Value).GetLog().GetBody()] = true
	}
	if len(bodies) != 2 || !bodies["good"] || !bodies["also good"] {
		t.Errorf("records in topic: %v, want the two good ones", bodies)
	}
	if got := counter(t, e.srv.m.rejected.WithLabelValues(endpointLogs, reasonBadTraceID)); got != 1 {
		t.Errorf("bad_trace_id rejections = %v, want 1", got)
	}

	traces := `{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"ok","startTimeUnixNano":"1799999000000000000"},
		{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"not-hex!","name":"bad parent"},
		{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"bad link","links":[{"traceId":"nope","spanId":"b7ad6b7169203331"}]}
	]}]}]}`
	code, _, resp = e.post("/v1/traces", "application/json", []byte(traces), nil)
	var tr coltracepb.ExportTraceServiceResponse
	if code != http.StatusOK || protojson.Unmarshal(resp, &tr) != nil {
		t.Fatalf("traces: %d %s", code, resp)
	}
	if ps := tr.GetPartialSuccess(); ps.GetRejectedSpans() != 1 || !strings.Contains(ps.GetErrorMessage(), `span 1: parent_span_id "not-hex!" is not 16 hex digits`) {
		t.Errorf("traces partial success = %v", ps)
	}
}

// Regression (issue 12 item 7): an error answer to a request that is not
// OTLP protobuf (curl -d sends application/x-www-form-urlencoded) used to
// be a binary protobuf Status; it must be JSON a person can read. A
// protobuf request still gets a protobuf Status, as OTLP/HTTP requires.
func TestIngest_ErrorBodyFollowsContentType(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Auth.Token = "t0ken" })
	auth := map[string]string{"Authorization": "Bearer t0ken"}
	tests := []struct {
		name, path, ct string
		hdr            map[string]string
		wantCode       int
		wantJSON       bool
		wantMessage    string
	}{
		{"curl -d default", "/v1/logs", "application/x-www-form-urlencoded", auth, 415, true, `content type "application/x-www-form-urlencoded" not supported`},
		{"no content type", "/v1/traces", "", auth, 415, true, `content type "" not supported`},
		{"json unauthenticated", "/v1/logs", "application/json", nil, 401, true, "missing or wrong bearer token"},
		{"json with charset", "/v1/logs", "application/json; charset=utf-8", nil, 401, true, "missing or wrong bearer token"},
		{"protobuf unauthenticated", "/v1/logs", "application/x-protobuf", nil, 401, false, "missing or wrong bearer token"},
		{"json get", "/v1/traces", "application/json", auth, 405, true, "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.wantCode == 405 {
				method = http.MethodGet
			}
			code, hdr, body := e.do(method, tt.path, tt.ct, []byte("x"), tt.hdr)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d: %q", code, tt.wantCode, body)
			}
			st := decodeStatus(t, hdr, body, tt.wantJSON)
			if !strings.Contains(st.GetMessage(), tt.wantMessage) {
				t.Errorf("message %q lacks %q", st.GetMessage(), tt.wantMessage)
			}
		})
	}
}

// decodeStatus decodes a google.rpc.Status error body, checking that its
// encoding is the wanted one.
func decodeStatus(t *testing.T, hdr http.Header, body []byte, wantJSON bool) *statuspb.Status {
	t.Helper()
	var st statuspb.Status
	if wantJSON {
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q, want application/json; body %q", ct, body)
		}
		if err := protojson.Unmarshal(body, &st); err != nil {
			t.Fatalf("body %q is not a JSON google.rpc.Status: %v", body, err)
		}
		return &st
	}
	if ct := hdr.Get("Content-Type"); ct != "application/x-protobuf" {
		t.Fatalf("Content-Type %q, want application/x-protobuf; body %q", ct, body)
	}
	if err := proto.Unmarshal(body, &st); err != nil {
		t.Fatalf("body is not a protobuf google.rpc.Status: %v", err)
	}
	return &st
}

// Regression (issue 12 item 6): POST /v1/metrics, which SDKs send when one
// OTEL_EXPORTER_OTLP_ENDPOINT points at logweave, used to get the mux's
// bare text 404; it must get a Status saying logweave takes no metrics,
// with a status no OTLP exporter retries.
func TestIngest_MetricsExportRefusedClearly(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, tt := range []struct {
		ct       string
		wantJSON bool
	}{{"application/x-protobuf", false}, {"application/json", true}} {
		code, hdr, body := e.post("/v1/metrics", tt.ct, []byte("{}"), nil)
		if code != http.StatusNotFound {
			t.Fatalf("%s: status %d, want 404: %q", tt.ct, code, body)
		}
		st := decodeStatus(t, hdr, body, tt.wantJSON)
		if st.GetCode() != codeUnimplemented || !strings.Contains(st.GetMessage(), "logweave does not accept metrics") {
			t.Errorf("%s: status %v", tt.ct, st)
		}
	}
	if got := counter(t, e.srv.m.requests.WithLabelValues(endpointMetrics, "404")); got != 2 {
		t.Errorf("metrics requests counted %v, want 2", got)
	}
}
