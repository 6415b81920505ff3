package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/testkit/esfake"
)

func newSink(t *testing.T, srv *esfake.Server, mutate func(*Config)) *Sink {
	t.Helper()
	cfg := Default()
	cfg.URLs = []string{srv.URL}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(context.Background(), cfg, prometheus.NewRegistry(), "es")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func records(n int, prefix string) []*sinks.Record {
	out := make([]*sinks.Record, n)
	for i := range out {
		id := fmt.Sprintf("%s%04d", prefix, i)
		seq := uint32(7)
		out[i] = &sinks.Record{
			Offset: int64(i),
			Dest:   router.Destination{Index: "logweave-log-2026.11.22"},
			Enriched: &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{
				TimeUnixNano: 1_800_000_000_000_000_000, SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO, Body: "line " + id, Service: "judge"}}},
				Submission: &v1.Submission{SubmitId: "S1", UserId: "U9", SubmissionSeq: &seq}, Sampling: &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1}},
		}
	}
	return out
}

func write(t *testing.T, s *Sink, batch []*sinks.Record) []sinks.Result {
	t.Helper()
	res, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d records", len(res), len(batch))
	}
	return res
}

func TestSink_CreatesDocumentsAndTemplate(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.Routing = true; c.Template.ILMPolicy = "logweave-30d" })
	tmpl, ok := srv.Template("logweave")
	if !ok {
		t.Fatal("index template not installed")
	}
	var parsed struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Settings map[string]any `json:"settings"`
			Mappings struct {
				Properties map[string]struct {
					Type string `json:"type"`
				} `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(tmpl, &parsed); err != nil {
		t.Fatal(err)
	}
	p := parsed.Template.Mappings.Properties
	if parsed.IndexPatterns[0] != "logweave-*" || p["@timestamp"].Type != "date_nanos" || p["submit_id"].Type != "keyword" ||
		p["submission_seq"].Type != "integer" || p["message"].Type != "text" || p["attributes"].Type != "flattened" ||
		parsed.Template.Settings["index.lifecycle.name"] != "logweave-30d" {
		t.Errorf("template = %s", tmpl)
	}
	res := write(t, s, records(50, "a"))
	for i, r := range res {
		if r.Outcome != sinks.Delivered {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	docs := srv.Docs("logweave-log-2026.11.22")
	if len(docs) != 50 {
		t.Fatalf("%d documents, want 50", len(docs))
	}
	var d map[string]any
	json.Unmarshal(docs["a0007"], &d)
	if d["record_id"] != "a0007" || d["submit_id"] != "S1" || d["message"] != "line a0007" {
		t.Errorf("document = %v", d)
	}
	if _, gz := srv.Stats(); gz == 0 {
		t.Error("bulk bodies were not gzipped")
	}
}

func TestSink_ReplayLeavesOneDocumentPerID(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	reg := prometheus.NewRegistry()
	cfg := Default()
	cfg.URLs = []string{srv.URL}
	s, err := New(context.Background(), cfg, reg, "es")
	if err != nil {
		t.Fatal(err)
	}
	batch := records(30, "r")
	write(t, s, batch)
	res := write(t, s, batch)
	for _, r := range res {
		if r.Outcome != sinks.Delivered {
			t.Fatalf("replayed record not delivered: %+v", r)
		}
	}
	if n := len(srv.Docs("logweave-log-2026.11.22")); n != 30 {
		t.Errorf("%d documents after replaying 30 records twice", n)
	}
	if dup := testutil.ToFloat64(s.m.items.WithLabelValues("duplicate")); dup != 30 {
		t.Errorf("duplicate items = %v, want 30", dup)
	}
}

func TestSink_MixedItemOutcomes(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, nil)
	srv.SetItemFault(func(index, id string, _ []byte) (int, string, string) {
		switch id {
		case "m0001":
			return 429, "es_rejected_execution_exception", "rejected execution of coordinating operation"
		case "m0002":
			return 400, "document_parsing_exception", "[1:42] failed to parse field [submission_seq] of type [integer]"
		case "m0003":
			return 503, "unavailable_shards_exception", "primary shard is not active"
		}
		return 0, "", ""
	})
	res := write(t, s, records(6, "m"))
	want := []sinks.Outcome{sinks.Delivered, sinks.Retry, sinks.Reject, sinks.Retry, sinks.Delivered, sinks.Delivered}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("item %d outcome %v, want %v (%+v)", i, r.Outcome, want[i], r)
		}
	}
	if res[2].Reason != "mapping" || !strings.Contains(res[2].Err.Error(), "document_parsing_exception: [1:42] failed to parse") {
		t.Errorf("rejection = %+v", res[2])
	}
	// Retrying only the failed ones succeeds once the fault is gone.
	srv.SetItemFault(nil)
	batch := records(6, "m")
	res = write(t, s, []*sinks.Record{batch[1], batch[3]})
	if res[0].Outcome != sinks.Delivered || res[1].Outcome != sinks.Delivered {
		t.Errorf("retry = %+v", res)
	}
	if n := len(srv.Docs("logweave-log-2026.11.22")); n != 5 {
		t.Errorf("%d documents, want 5 (one rejected)", n)
	}
}

func TestSink_WholeRequestFailures(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.RequestTimeout = 300 * time.Millisecond })
	for _, tc := range []struct {
		name   string
		inject func()
		reason string
	}{
		{"429", func() { srv.FailNext(429) }, "rate_limited"},
		{"503", func() { srv.FailNext(503) }, "unavailable"},
		{"reset", func() { srv.ResetNext(1) }, "network"},
		{"timeout", func() { srv.SetDelay(time.Second) }, "network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.inject()
			defer srv.SetDelay(0)
			for _, r := range write(t, s, records(3, "w"+tc.name)) {
				if r.Outcome != sinks.Retry || r.Reason != tc.reason {
					t.Errorf("result %+v, want retry %s", r, tc.reason)
				}
			}
		})
	}
}

func TestSink_AuthFailureIsFatal(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	srv.RequireAuth("APIKey right")
	cfg := Default()
	cfg.URLs = []string{srv.URL}
	cfg.APIKey = "wrong"
	if _, err := New(context.Background(), cfg, prometheus.NewRegistry(), "es"); !errors.Is(err, ErrAuth) {
		t.Fatalf("template install with bad credentials: %v", err)
	}
	cfg.Template.Install = false
	s, err := New(context.Background(), cfg, prometheus.NewRegistry(), "es")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(context.Background(), records(2, "x")); !errors.Is(err, ErrAuth) {
		t.Fatalf("write with bad credentials: %v, want a fatal auth error", err)
	}
	s = newSink(t, srv, func(c *Config) { c.APIKey = "right" })
	for _, r := range write(t, s, records(2, "y")) {
		if r.Outcome != sinks.Delivered {
			t.Errorf("with the right key: %+v", r)
		}
	}
}

func TestSink_SplitsLargeBatches(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.MaxBulkBytes = 4096 })
	before, _ := srv.Stats()
	write(t, s, records(60, "s"))
	after, _ := srv.Stats()
	if after-before < 5 {
		t.Errorf("%d bulk requests for 60 records at 4 KiB each, want several", after-before)
	}
	if n := len(srv.Docs("logweave-log-2026.11.22")); n != 60 {
		t.Errorf("%d documents, want 60", n)
	}
}

func BenchmarkBulkBody(b *testing.B) {
	s := &Sink{cfg: Default()}
	batch := records(500, "b")
	var body []byte
	for _, r := range batch {
		body = s.appendItem(body, r)
	}
	b.SetBytes(int64(len(body) / len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(batch) {
		body = body[:0]
		for _, r := range batch {
			body = s.appendItem(body, r)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// bigRecord is a record whose document carries a body of n bytes.
func bigRecord(id string, n int) *sinks.Record {
	r := records(1, id)[0]
	r.Enriched.GetRecord().GetLog().Body = strings.Repeat("x", n)
	return r
}

// A proxy whose body limit is below max_bulk_bytes answers 413 for whole
// requests: the sink splits them until they pass, instead of retrying the
// same body forever.
func TestSink_ProxyBodyLimitSplitsRequests(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.Compress = false })
	batch := records(40, "p")
	one := len(s.appendItem(nil, batch[0]))
	srv.SetBodyLimit(5 * one)
	res := write(t, s, batch)
	for i, r := range res {
		if r.Outcome != sinks.Delivered {
			t.Fatalf("record %d: %+v, want delivered after splitting", i, r)
		}
	}
	if n := len(srv.Docs("logweave-log-2026.11.22")); n != 40 {
		t.Errorf("%d documents, want 40", n)
	}
	if srv.TooLarge() == 0 || testutil.ToFloat64(s.m.splits) == 0 {
		t.Errorf("413 answers %d, splits %v: the proxy limit was not exercised", srv.TooLarge(), testutil.ToFloat64(s.m.splits))
	}
}

// One document too large for the proxy on its own is dead-lettered as
// too_large; the documents sent with it are written.
func TestSink_OversizedDocumentIsTooLarge(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.Compress = false })
	batch := records(6, "o")
	batch[3] = bigRecord("big", 64<<10)
	srv.SetBodyLimit(16 << 10)
	res := write(t, s, batch)
	for i, r := range res {
		switch {
		case i == 3 && (r.Outcome != sinks.Reject || r.Reason != "too_large"):
			t.Errorf("oversized document: %+v, want rejected too_large", r)
		case i != 3 && r.Outcome != sinks.Delivered:
			t.Errorf("record %d: %+v, want delivered", i, r)
		}
	}
	if n := len(srv.Docs("logweave-log-2026.11.22")); n != 5 {
		t.Errorf("%d documents, want 5", n)
	}
}

// Statuses a proxy or ingress answers for a whole request (404 during a
// redeploy, 408, its own 400, 502) are no verdict on the documents: they
// are retried, never dead-lettered.
func TestSink_ProxyStatusesAreRetried(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, nil)
	for _, tc := range []struct {
		code   int
		reason string
	}{{404, "not_found"}, {408, "unexpected_status"}, {400, "unexpected_status"}, {405, "unexpected_status"}, {502, "unavailable"}} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv.ProxyFailNext(tc.code)
			batch := records(3, fmt.Sprintf("x%d-", tc.code))
			for _, r := range write(t, s, batch) {
				if r.Outcome != sinks.Retry || r.Reason != tc.reason {
					t.Errorf("proxy %d: %+v, want retry %s", tc.code, r, tc.reason)
				}
			}
			for _, r := range write(t, s, batch) {
				if r.Outcome != sinks.Delivered {
					t.Errorf("after the proxy recovered: %+v", r)
				}
			}
		})
	}
}

// Elasticsearch's own request-level 400 is isolated by splitting: only a
// document refused on its own is dead-lettered.
func TestSink_ElasticsearchRequest400IsIsolated(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, nil)
	srv.FailNext(400) // the first request only
	for i, r := range write(t, s, records(4, "i")) {
		if r.Outcome != sinks.Delivered {
			t.Errorf("record %d: %+v, want delivered once the halves were sent", i, r)
		}
	}
	srv.FailNext(400)
	res := write(t, s, records(1, "single"))
	if res[0].Outcome != sinks.Reject || res[0].Reason != "bad_request" {
		t.Errorf("single document refused by Elasticsearch: %+v, want rejected bad_request", res[0])
	}
}

// A 404 that lasts not_found_timeout stops the sink with ErrNotFound; an
// answer other than 404 in between restarts the clock.
func TestSink_PersistentNotFoundIsFatal(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.NotFoundTimeout = time.Minute })
	now := time.Unix(1_800_000_000, 0)
	s.notFound.Now = func() time.Time { return now }
	try := func(proxy int) error {
		t.Helper()
		if proxy != 0 {
			srv.ProxyFailNext(proxy)
		}
		_, err := s.Write(context.Background(), records(2, "nf"))
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
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "check urls") {
		t.Fatalf("404 for a minute: %v, want a fatal ErrNotFound naming the urls", err)
	}
}

// Regression (found by the chaos run): a sink member started while
// Elasticsearch was unreachable or answering 503 exited on the template
// install. It now retries transient failures and stops on refusals.
func TestNew_TemplateInstallRetriesTransientFailures(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	srv.ProxyFailNext(503, 502, 404)
	cfg := Default()
	cfg.URLs = []string{srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := New(ctx, cfg, prometheus.NewRegistry(), "es"); err != nil {
		t.Fatalf("New after three transient failures: %v", err)
	}
	if _, ok := srv.Template(cfg.Template.Name); !ok {
		t.Error("template not installed")
	}
	srv.ProxyFailNext(401)
	if _, err := New(ctx, cfg, prometheus.NewRegistry(), "es"); !errors.Is(err, ErrAuth) {
		t.Errorf("401: err = %v, want ErrAuth at once", err)
	}
}

// compress_level reaches the request bodies: the same batch gzipped at 9
// arrives smaller than at 1, and uncompressed larger than both.
func TestSink_CompressLevelSetsBodySize(t *testing.T) {
	sent := func(mutate func(*Config)) int64 {
		t.Helper()
		srv := esfake.New()
		defer srv.Close()
		s := newSink(t, srv, mutate)
		before := srv.WireBytes() // the template
		for i, r := range write(t, s, records(500, "z")) {
			if r.Outcome != sinks.Delivered {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
		return srv.WireBytes() - before
	}
	fastest := sent(nil) // the default, 1
	smallest := sent(func(c *Config) { c.CompressLevel = 9 })
	plain := sent(func(c *Config) { c.Compress = false })
	if !(smallest < fastest && fastest < plain) {
		t.Errorf("bulk bytes: level 9 %d, level 1 %d, uncompressed %d; want them in that order", smallest, fastest, plain)
	}
}

func TestConfig_CompressLevel(t *testing.T) {
	for _, tc := range []struct {
		compress bool
		level    int
		ok       bool
	}{
		{true, 1, true}, {true, 9, true}, {true, 0, false}, {true, 10, false}, {false, 0, true},
	} {
		c := Default()
		c.Compress, c.CompressLevel = tc.compress, tc.level
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("compress %v, compress_level %d: Validate() = %v, want ok=%v", tc.compress, tc.level, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "compress_level:") {
			t.Errorf("error %q does not name the field", err)
		}
	}
}

// BenchmarkBulkResponse decodes the answer to a 500-document bulk request
// in which every document was created.
func BenchmarkBulkResponse(b *testing.B) {
	var body []byte
	body = append(body, `{"took":30,"errors":false,"items":[`...)
	for i := range 500 {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"create":{"_index":"logweave-log-2026.11.22","_id":"%032x","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`, i, i)
	}
	body = append(body, "]}"...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := decodeBulkResponse(body)
		if err != nil || len(items) != 500 {
			b.Fatal(err, len(items))
		}
	}
}

// Bulk bodies are reused across batches (and in place when a batch is
// split by max_bulk_bytes): every document must arrive whole, under its own
// id, whatever the batches before it held.
func TestSink_ReusedBodiesCarryOnlyTheirBatch(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, func(c *Config) { c.MaxBulkBytes = 4096 })
	total := 0
	for _, b := range []struct {
		n      int
		prefix string
	}{{60, "a"}, {5, "b"}, {33, "c"}, {1, "d"}} {
		for i, r := range write(t, s, records(b.n, b.prefix)) {
			if r.Outcome != sinks.Delivered {
				t.Fatalf("batch %s record %d: %+v", b.prefix, i, r)
			}
		}
		total += b.n
	}
	docs := srv.Docs("logweave-log-2026.11.22")
	if len(docs) != total {
		t.Fatalf("%d documents, want %d", len(docs), total)
	}
	for id, raw := range docs {
		var d struct {
			RecordID string `json:"record_id"`
			Message  string `json:"message"`
		}
		if err := json.Unmarshal(raw, &d); err != nil || d.RecordID != id || d.Message != "line "+id {
			t.Errorf("document %s: %s (%v)", id, raw, err)
		}
	}
}
