package loki

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeLoki decodes pushes as Loki does and answers by script.
type fakeLoki struct {
	mu      sync.Mutex
	pushes  []push.PushRequest
	tenants []string
	answer  func(req push.PushRequest) (int, string)
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad path or content type", 400)
		return
	}
	body, _ := io.ReadAll(r.Body)
	raw, err := s2.Decode(nil, body)
	if err != nil {
		http.Error(w, "snappy: "+err.Error(), 400)
		return
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, "proto: "+err.Error(), 400)
		return
	}
	f.mu.Lock()
	f.pushes = append(f.pushes, req)
	f.tenants = append(f.tenants, r.Header.Get("X-Scope-OrgID"))
	answer := f.answer
	f.mu.Unlock()
	code, msg := 204, ""
	if answer != nil {
		code, msg = answer(req)
	}
	if code == 204 {
		w.WriteHeader(204)
		return
	}
	http.Error(w, msg, code)
}

func record(i int, body string, tenant string) *sinks.Record {
	seq := uint32(3)
	er := &v1.EnrichedRecord{RecordId: fmt.Sprintf("r%02d", i), Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{
		TimeUnixNano: uint64(1_800_000_000_000_000_000 - i*1000), SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_WARN, Body: body,
		Service: "judge", TraceId: []byte("0123456789abcdef"), SpanId: []byte("spanid01"),
		Resource:   &v1.Resource{Namespace: "oj", Cluster: "eu-1"},
		Attributes: []*v1.KeyValue{{Key: "http.status_code", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: 504}}}, {Key: "test", Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "t 5"}}}},
	}}},
		Span:       &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, Name: "judge", DurationNanos: 12_500_000_000, Status: v1.StatusCode_STATUS_CODE_ERROR},
		Submission: &v1.Submission{SubmitId: "S1", UserId: "U9", SubmissionSeq: &seq, Stage: v1.Stage_STAGE_JUDGE},
		Sampling:   &v1.Sampling{KeptBy: "slow_judge", Rate: 1, SampleWeight: 1}}
	rt, _ := router.New(router.Default())
	d, _ := rt.Route("loki", er)
	d.Tenant = tenant
	return &sinks.Record{Enriched: er, Dest: d}
}

func newTest(t *testing.T, f *fakeLoki, mutate func(*Config)) *Sink {
	t.Helper()
	hs := httptest.NewServer(f)
	t.Cleanup(hs.Close)
	cfg := Default()
	cfg.URL = hs.URL
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, prometheus.NewRegistry(), "loki")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLine_Golden(t *testing.T) {
	got := string(appendLine(nil, record(0, `test 5 "slow" = 1.9s`, "").Enriched)) + "\n"
	path := filepath.Join("testdata", "line.golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, _ := os.ReadFile(path)
	if got != string(want) {
		t.Errorf("line = %q, golden %q", got, want)
	}
	if again := string(appendLine(nil, record(0, `test 5 "slow" = 1.9s`, "").Enriched)) + "\n"; again != got {
		t.Error("line rendering is not deterministic")
	}
}

func TestSink_PushShape(t *testing.T) {
	f := &fakeLoki{}
	s := newTest(t, f, func(c *Config) { c.Tenant = "default-tenant" })
	batch := []*sinks.Record{record(0, "a", ""), record(1, "b", "acme"), record(2, "c", "")}
	res, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Outcome != sinks.Delivered {
			t.Fatalf("result %+v", r)
		}
	}
	if len(f.pushes) != 2 || f.tenants[0] != "acme" || f.tenants[1] != "default-tenant" {
		t.Fatalf("pushes per tenant: %d %v", len(f.pushes), f.tenants)
	}
	st := f.pushes[1].Streams[0]
	if st.Labels != `{cluster="eu-1",level="warn",log_type="app",namespace="oj",service="judge"}` {
		t.Errorf("labels = %s", st.Labels)
	}
	if len(st.Entries) != 2 || !st.Entries[0].Timestamp.Before(st.Entries[1].Timestamp) {
		t.Errorf("entries not sorted by time: %v", st.Entries)
	}
	md := map[string]string{}
	for _, l := range st.Entries[0].StructuredMetadata {
		md[l.Name] = l.Value
	}
	if md["submit_id"] != "S1" || md["user_id"] != "U9" || md["trace_id"] != "30313233343536373839616263646566" || md["stage"] != "judge" || md["record_id"] == "" {
		t.Errorf("structured metadata = %v", md)
	}
	if st.Entries[0].Timestamp.UnixNano() != 1_800_000_000_000_000_000-2000 {
		t.Errorf("entry timestamp %v is not the event time", st.Entries[0].Timestamp)
	}
}

func TestSink_Responses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		code    int
		msg     string
		outcome sinks.Outcome
		reason  string
	}{
		{"429", 429, "Ingestion rate limit exceeded", sinks.Retry, "rate_limited"},
		{"503", 503, "no healthy ingesters", sinks.Retry, "unavailable"},
		{"too old", 400, "entry for stream '{service=\"judge\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-15T00:00:00Z", sinks.Reject, "too_old"},
		{"line too long", 400, "max entry size '256' bytes exceeded for stream '{service=\"judge\"}' while adding an entry with length '300' bytes; line too long", sinks.Reject, "line_too_long"},
		{"invalid labels", 400, "error parsing labels '{1bad=\"x\"}': invalid label name", sinks.Reject, "invalid_labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLoki{answer: func(push.PushRequest) (int, string) { return tc.code, tc.msg }}
			s := newTest(t, f, nil)
			res, err := s.Write(context.Background(), []*sinks.Record{record(0, "x", "")})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Outcome != tc.outcome || res[0].Reason != tc.reason {
				t.Errorf("result %+v, want %v %s", res[0], tc.outcome, tc.reason)
			}
		})
	}
}

// A 400 for a push of several entries is not applied to all of them: the
// entries are pushed one by one to find the refused ones.
func TestSink_Isolates400(t *testing.T) {
	f := &fakeLoki{answer: func(req push.PushRequest) (int, string) {
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				if strings.Contains(e.Line, "ANCIENT") {
					return 400, "entry too far behind, entry timestamp is: 2020-01-01T00:00:00Z"
				}
			}
		}
		return 204, ""
	}}
	s := newTest(t, f, nil)
	res, err := s.Write(context.Background(), []*sinks.Record{record(0, "ok 1", ""), record(1, "ANCIENT", ""), record(2, "ok 2", "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []sinks.Outcome{sinks.Delivered, sinks.Reject, sinks.Delivered}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("entry %d: %+v", i, r)
		}
	}
	if res[1].Reason != "too_old" {
		t.Errorf("reason = %q", res[1].Reason)
	}
}

func TestSink_AuthFatalAndSplitting(t *testing.T) {
	f := &fakeLoki{answer: func(push.PushRequest) (int, string) { return 401, "no org id" }}
	s := newTest(t, f, func(c *Config) { c.BearerToken = "x" })
	if _, err := s.Write(context.Background(), []*sinks.Record{record(0, "x", "")}); !errors.Is(err, ErrAuth) {
		t.Fatalf("401: %v", err)
	}
	f2 := &fakeLoki{}
	s = newTest(t, f2, func(c *Config) { c.MaxPushBytes = 1024 })
	var batch []*sinks.Record
	for i := 0; i < 40; i++ {
		batch = append(batch, record(i, strings.Repeat("y", 100), ""))
	}
	if _, err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(f2.pushes) < 4 {
		t.Errorf("%d pushes for 40 entries of ~300 bytes at 1 KiB, want several", len(f2.pushes))
	}
}

func BenchmarkPushBody(b *testing.B) {
	var es []entry
	for i := 0; i < 500; i++ {
		r := record(i, fmt.Sprintf("test %d passed in %dms", i%40, 10+i%300), "")
		e := entry{i: i, labels: labelString(r)}
		e.e.Timestamp = time.Unix(0, int64(r.Enriched.GetRecord().EventTimeUnixNano()))
		e.e.Line = string(appendLine(nil, r.Enriched))
		for _, md := range r.Dest.Metadata {
			e.e.StructuredMetadata = append(e.e.StructuredMetadata, push.LabelAdapter{Name: md.Name, Value: md.Value})
		}
		es = append(es, e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(es) {
		if _, err := buildRequest(es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
