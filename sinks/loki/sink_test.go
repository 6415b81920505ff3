package loki

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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

// Loki's refusal messages, formatted as Loki v3.7 formats them
// (pkg/validation/validate.go, pkg/chunkenc/interface.go, the ingester's
// errorForFailedEntries, pkg/loghttp/push/push.go); real_test.go checks the
// sink against the real Loki's answers.
const stream = `{cluster="eu-1", level="warn", log_type="app", namespace="oj", service="judge", service_name="judge"}`

var lokiSays = map[string]string{
	"too_old":        "entry for stream '" + stream + "' has timestamp too old: 2026-10-24T13:27:29Z, oldest acceptable timestamp is: 2026-11-16T13:27:29Z",
	"too_new":        "entry for stream '" + stream + "' has timestamp too new: 2026-11-23T14:27:29Z",
	"too_far_behind": "entry with timestamp 2026-11-23 10:27:29.990988654 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2026-11-23T10:27:29Z, oldest acceptable timestamp is: 2026-11-23T12:27:29Z',\nuser 'fake', total ignored: 1 out of 1 for stream: " + stream,
	"out_of_order":   "entry with timestamp 2026-11-23 10:27:29.990988654 +0000 UTC ignored, reason: 'entry out of order',\nuser 'fake', total ignored: 1 out of 1 for stream: " + stream,
	"line_too_long":  "max entry size '262144' bytes exceeded for stream '" + stream + "' while adding an entry with length '409647' bytes",
	"invalid_labels": "couldn't parse labels: 1:2: parse error: unexpected character inside braces: '1'",
	"label_names":    "entry for stream '" + stream + "' has 16 label names; limit 15",
	"value_too_long": "stream '" + stream + "' has label value too long: 'judge'",
	"no_sm":          "stream '" + stream + "' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it",
	"sm_too_large":   "stream '" + stream + "' has structured metadata too large: '70000' bytes, limit: '65536' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it",
	"grouped":        "2 errors like: entry for stream '" + stream + "' has timestamp too old: 2026-10-24T13:27:29Z, oldest acceptable timestamp is: 2026-11-16T13:27:29Z",
	"rate_limited":   "ingestion rate limit exceeded for user fake (limit: 10485 bytes/sec) while attempting to ingest '30' lines totaling '27051' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
	"too_large":      "request body too large: 5243000 bytes, limit: 5242880 bytes",
}

const nginx404 = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"

// Every push holds one stream: Loki's ingester answers a push with its
// last stream's error only, so a refusal in another stream would be lost.
func TestSink_OneStreamPerPush(t *testing.T) {
	f := &fakeLoki{}
	s := newTest(t, f, nil)
	other := record(1, "b", "")
	other.Dest.Labels = append([]router.Label{{Name: "app", Value: "other"}}, other.Dest.Labels...)
	if _, err := s.Write(context.Background(), []*sinks.Record{record(0, "a", ""), other, record(2, "c", "")}); err != nil {
		t.Fatal(err)
	}
	if len(f.pushes) != 2 {
		t.Fatalf("%d pushes for two streams, want 2", len(f.pushes))
	}
	for i, p := range f.pushes {
		if len(p.Streams) != 1 {
			t.Errorf("push %d holds %d streams, want 1", i, len(p.Streams))
		}
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
		{"429", 429, lokiSays["rate_limited"], sinks.Retry, "rate_limited"},
		{"503", 503, "no healthy ingesters", sinks.Retry, "unavailable"},
		{"too old", 400, lokiSays["too_old"], sinks.Reject, "too_old"},
		{"too new", 400, lokiSays["too_new"], sinks.Reject, "too_new"},
		{"too far behind", 400, lokiSays["too_far_behind"], sinks.Reject, "too_far_behind"},
		{"out of order", 400, lokiSays["out_of_order"], sinks.Reject, "out_of_order"},
		{"entry too large", 400, lokiSays["line_too_long"], sinks.Reject, "line_too_long"},
		{"invalid labels", 400, lokiSays["invalid_labels"], sinks.Reject, "invalid_labels"},
		{"too many label names", 400, lokiSays["label_names"], sinks.Reject, "invalid_labels"},
		{"label value too long", 400, lokiSays["value_too_long"], sinks.Reject, "invalid_labels"},
		{"structured metadata disallowed", 400, lokiSays["no_sm"], sinks.Reject, "structured_metadata"},
		{"structured metadata too large", 400, lokiSays["sm_too_large"], sinks.Reject, "structured_metadata"},
		{"grouped", 400, lokiSays["grouped"], sinks.Reject, "too_old"},
		{"413 for one entry", 413, lokiSays["too_large"], sinks.Reject, "too_large"},
		// A proxy's or ingress's answers are no verdict on the entry.
		{"404 from an ingress", 404, nginx404, sinks.Retry, "not_found"},
		{"408 from a proxy", 408, "stream timeout", sinks.Retry, "unexpected_status"},
		{"400 not from Loki", 400, "<html><body>400 Bad Request</body></html>", sinks.Retry, "unexpected_status"},
		{"400 unknown", 400, "something Loki may say one day", sinks.Retry, "unexpected_status"},
		{"421", 421, "misdirected", sinks.Retry, "unexpected_status"},
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

// A label value that looks like a refusal does not make a message one.
func TestClassify400_LabelValuesAreNotReasons(t *testing.T) {
	msg := "stream '{service=\"has timestamp too old: max entry size '\"}' has label value too long: 'x'"
	if got := classify400(msg); got != "invalid_labels" {
		t.Errorf("classify400 = %q, want invalid_labels", got)
	}
	if got := classify400("some proxy said: entry too far behind"); got != "" {
		t.Errorf("classify400 of a message that is not Loki's = %q, want none", got)
	}
}

// A 400 for a push of several entries is not applied to all of them: the
// entries are pushed one by one to find the refused ones.
func TestSink_Isolates400(t *testing.T) {
	f := &fakeLoki{answer: func(req push.PushRequest) (int, string) {
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				if strings.Contains(e.Line, "ANCIENT") {
					return 400, lokiSays["too_far_behind"]
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
	if res[1].Reason != "too_far_behind" {
		t.Errorf("reason = %q", res[1].Reason)
	}
	// Loki stored the good entries with each refused push: pushing them
	// again to isolate the refused one is a re-push. Halves: [0] and
	// [1 2] (refused again), then [1] and [2].
	if got := testutil.ToFloat64(s.m.repushed); got != 5 {
		t.Errorf("repushed = %v, want 5", got)
	}
}

// A proxy whose body limit is below max_push_bytes answers 413 for whole
// pushes: they are split in halves until they pass; an entry refused on
// its own is too_large.
func TestSink_Splits413(t *testing.T) {
	const limit = 3 << 10
	f := &fakeLoki{}
	f.answer = func(req push.PushRequest) (int, string) {
		if req.Size() > limit {
			return 413, "<html><head><title>413 Request Entity Too Large</title></head></html>"
		}
		return 204, ""
	}
	s := newTest(t, f, nil)
	batch := make([]*sinks.Record, 0, 41)
	for i := 0; i < 40; i++ {
		batch = append(batch, record(i, strings.Repeat("y", 100), ""))
	}
	batch = append(batch, record(40, strings.Repeat("z", 8<<10), ""))
	res, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		switch {
		case i == 40 && (r.Outcome != sinks.Reject || r.Reason != "too_large"):
			t.Errorf("oversized entry: %+v, want rejected too_large", r)
		case i < 40 && r.Outcome != sinks.Delivered:
			t.Fatalf("entry %d: %+v, want delivered after splitting", i, r)
		}
	}
	stored := 0
	f.mu.Lock()
	for _, p := range f.pushes {
		if p.Size() <= limit {
			for _, st := range p.Streams {
				stored += len(st.Entries)
			}
		}
	}
	f.mu.Unlock()
	if stored != 40 {
		t.Errorf("%d entries accepted, want 40", stored)
	}
}

// A 404 that lasts not_found_timeout stops the sink with ErrNotFound; an
// answer other than 404 in between restarts the clock.
func TestSink_PersistentNotFoundIsFatal(t *testing.T) {
	var code atomic.Int32
	f := &fakeLoki{answer: func(push.PushRequest) (int, string) { return int(code.Load()), nginx404 }}
	s := newTest(t, f, func(c *Config) { c.NotFoundTimeout = time.Minute })
	now := time.Unix(1_800_000_000, 0)
	s.notFound.Now = func() time.Time { return now }
	try := func(status int) error {
		t.Helper()
		code.Store(int32(status))
		_, err := s.Write(context.Background(), []*sinks.Record{record(0, "x", "")})
		return err
	}
	if err := try(404); err != nil {
		t.Fatalf("first 404: %v, want a retry", err)
	}
	now = now.Add(50 * time.Second)
	if err := try(503); err != nil {
		t.Fatalf("503: %v", err)
	}
	now = now.Add(50 * time.Second)
	if err := try(404); err != nil {
		t.Fatalf("404 after another answer: %v, want a retry (the clock restarts)", err)
	}
	now = now.Add(59 * time.Second)
	if err := try(404); err != nil {
		t.Fatalf("404 for 59s: %v, want a retry", err)
	}
	now = now.Add(time.Second)
	err := try(404)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "check url") {
		t.Fatalf("404 for a minute: %v, want a fatal ErrNotFound naming the url", err)
	}
}

// Loki stored a push but its answer was lost: the sink pushes it again
// (the runtime retries), and counts the re-push. A push that never
// reached Loki (connection refused) is not counted.
func TestSink_RepushAfterUnknownOutcomeIsCounted(t *testing.T) {
	var drop atomic.Bool
	drop.Store(true)
	f := &fakeLoki{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(discardWriter{}, r) // stored
		if drop.CompareAndSwap(true, false) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // the answer is lost
			}
			return
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(hs.Close)
	cfg := Default()
	cfg.URL = hs.URL
	s, err := New(cfg, prometheus.NewRegistry(), "loki")
	if err != nil {
		t.Fatal(err)
	}
	batch := []*sinks.Record{record(0, "a", ""), record(1, "b", "")}
	res, err := s.Write(context.Background(), batch)
	if err != nil || res[0].Outcome != sinks.Retry || res[0].Reason != "network" {
		t.Fatalf("push whose answer was lost: %+v %v, want retry network", res, err)
	}
	if got := testutil.ToFloat64(s.m.repushed); got != 0 {
		t.Fatalf("repushed = %v before any re-push", got)
	}
	res, err = s.Write(context.Background(), batch)
	if err != nil || res[0].Outcome != sinks.Delivered || res[1].Outcome != sinks.Delivered {
		t.Fatalf("re-push: %+v %v", res, err)
	}
	if got := testutil.ToFloat64(s.m.repushed); got != 2 {
		t.Errorf("repushed = %v, want 2 (both entries of the push whose answer was lost)", got)
	}
	if len(f.pushes) != 2 {
		t.Errorf("Loki received %d pushes, want 2", len(f.pushes))
	}
	// Once delivered, pushing the same records again (a replay) is not a
	// re-push after an unknown outcome.
	if _, err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.m.repushed); got != 2 {
		t.Errorf("repushed = %v after a replay of delivered records, want 2", got)
	}

	// Nothing listens: the push never left, so pushing again is no re-push.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg.URL = "http://" + addr
	s2, err := New(cfg, prometheus.NewRegistry(), "loki")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if res, _ := s2.Write(context.Background(), batch); res[0].Outcome != sinks.Retry {
			t.Fatalf("push to a closed port: %+v", res[0])
		}
	}
	if got := testutil.ToFloat64(s2.m.repushed); got != 0 {
		t.Errorf("repushed = %v after connection refused, want 0", got)
	}
}

// discardWriter lets fakeLoki record a push whose answer is then lost.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

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
	var bufs pushBuffers // reused, as pushes reuse them
	for n := 0; n < b.N; n += len(es) {
		if _, err := bufs.encode(es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// Bytes and composite attribute values appear in the line in the
// vocabulary's text form (base64, JSON); before the shared vocabulary the
// Loki line left them out.
func TestLine_BytesAndCompositeAttributes(t *testing.T) {
	kvs := []*v1.KeyValue{
		{Key: "raw", Value: &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte("hi")}}},
		{Key: "limits", Value: &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: &v1.KeyValueList{Values: []*v1.KeyValue{
			{Key: "cpu", Value: &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: 1.5}}}}}}}},
	}
	rec := &v1.EnrichedRecord{Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{Body: "x", Attributes: kvs}}}}
	got := string(appendLine(nil, rec))
	if want := `msg=x raw="aGk=" limits="{\"cpu\":1.5}"`; got != want {
		t.Errorf("line = %s, want %s", got, want)
	}
}
