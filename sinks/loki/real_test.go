package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/testkit/lokitest"
)

type queryResult struct {
	Stream map[string]string `json:"stream"`
	Values [][]string        `json:"values"`
}

func queryRange(t *testing.T, base, q string, from, to time.Time) []queryResult {
	t.Helper()
	u := base + "/loki/api/v1/query_range?" + url.Values{"query": {q}, "start": {strconv.FormatInt(from.UnixNano(), 10)},
		"end": {strconv.FormatInt(to.UnixNano(), 10)}, "limit": {"5000"}, "direction": {"forward"}}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %s: %d %s", q, resp.StatusCode, body)
	}
	var r struct {
		Data struct {
			Result []queryResult `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Data.Result
}

func liveRecord(t0 time.Time, i int, submit, body string) *sinks.Record {
	er := &v1.EnrichedRecord{RecordId: fmt.Sprintf("%s-%03d", submit, i), Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{
		TimeUnixNano: uint64(t0.Add(time.Duration(i) * time.Millisecond).UnixNano()), SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO,
		Body: body, Service: "judge", TraceId: []byte("0123456789abcdef"), Resource: &v1.Resource{Namespace: "oj", Cluster: "test"}}}},
		Span:       &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_MISSING},
		Submission: &v1.Submission{SubmitId: submit, UserId: "U1"}, Sampling: &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1}}
	rt, _ := router.New(router.Default())
	d, _ := rt.Route("loki", er)
	return &sinks.Record{Enriched: er, Dest: d}
}

// TestRealLoki pushes to a Loki built from its Go module and checks what
// queries return: labels, structured metadata, lines; replays merged;
// out-of-order input accepted; too-old entries rejected with a reason; a
// restart loses nothing once the push succeeds.
func TestRealLoki(t *testing.T) {
	l := lokitest.Start(t)
	cfg := Default()
	cfg.URL = l.URL
	s, err := New(cfg, prometheus.NewRegistry(), "loki")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	write := func(batch []*sinks.Record) []sinks.Result {
		t.Helper()
		res, err := s.Write(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var batch []*sinks.Record
	for i := 9; i >= 0; i-- { // newest first: out of order within the batch
		batch = append(batch, liveRecord(t0, i, "S-real", fmt.Sprintf("line %d", i)))
	}
	for round := 0; round < 2; round++ { // the second round is a replay
		for i, r := range write(batch) {
			if r.Outcome != sinks.Delivered {
				t.Fatalf("round %d entry %d: %+v", round, i, r)
			}
		}
	}
	var res []queryResult
	deadline := time.Now().Add(20 * time.Second)
	for {
		res = queryRange(t, l.URL, `{service="judge"} | submit_id="S-real"`, t0.Add(-time.Minute), time.Now().Add(time.Minute))
		n := 0
		for _, r := range res {
			n += len(r.Values)
		}
		if n >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	n := 0
	for _, r := range res {
		n += len(r.Values)
		if r.Stream["service"] != "judge" || r.Stream["namespace"] != "oj" || r.Stream["level"] != "info" || r.Stream["submit_id"] != "S-real" ||
			r.Stream["user_id"] != "U1" || r.Stream["trace_id"] != "30313233343536373839616263646566" {
			t.Errorf("stream labels and metadata = %v", r.Stream)
		}
	}
	if n != 10 {
		t.Fatalf("%d entries returned after pushing 10 twice, want 10 (Loki merges identical entries): %v", n, res)
	}
	if got := res[0].Values[0][1]; got != "msg=\"line 0\" join=missing kept_by=error" {
		t.Errorf("first line = %q", got)
	}

	old := liveRecord(time.Now().Add(-30*24*time.Hour), 0, "S-old", "ancient")
	r := write([]*sinks.Record{old, liveRecord(t0, 50, "S-real", "fresh")})
	if r[0].Outcome != sinks.Reject || r[0].Reason != "too_old" {
		t.Errorf("too-old entry: %+v", r[0])
	}
	if r[1].Outcome != sinks.Delivered {
		t.Errorf("fresh entry next to a too-old one: %+v", r[1])
	}

	l.Stop()
	down := write([]*sinks.Record{liveRecord(t0, 60, "S-restart", "during restart")})
	if down[0].Outcome != sinks.Retry {
		t.Fatalf("push to a stopped Loki: %+v", down[0])
	}
	l.Restart()
	if up := write([]*sinks.Record{liveRecord(t0, 60, "S-restart", "during restart")}); up[0].Outcome != sinks.Delivered {
		t.Fatalf("push after the restart: %+v", up[0])
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		res = queryRange(t, l.URL, `{service="judge"} | submit_id=~"S-real|S-restart"`, t0.Add(-time.Minute), time.Now().Add(time.Minute))
		n = 0
		for _, r := range res {
			n += len(r.Values)
		}
		if n >= 12 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n != 12 {
		t.Errorf("%d entries after the restart, want 12 (nothing lost)", n)
	}
}

// inStream puts a record in a stream of its own, so that one check's
// entries do not meet another's.
func inStream(r *sinks.Record, labels ...router.Label) *sinks.Record {
	r.Dest.Labels = labels
	return r
}

func svc(name string) router.Label { return router.Label{Name: "service", Value: name} }

func newRealSink(t *testing.T, url string) *Sink {
	t.Helper()
	cfg := Default()
	cfg.URL = url
	s, err := New(cfg, prometheus.NewRegistry(), "loki")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustWrite(t *testing.T, s *Sink, batch ...*sinks.Record) []sinks.Result {
	t.Helper()
	res, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRealLoki_Refusals reads every refusal the way the real Loki words
// it: each refused entry is pushed together with one Loki takes, and only
// the refused one is dead-lettered, with its reason.
func TestRealLoki_Refusals(t *testing.T) {
	l := lokitest.Start(t)
	s := newRealSink(t, l.URL)
	now := time.Now().Truncate(time.Millisecond)
	for _, tc := range []struct {
		name    string
		before  *sinks.Record // pushed first, taken
		refused *sinks.Record
		reason  string
	}{
		{name: "too old", reason: "too_old",
			refused: inStream(liveRecord(now.Add(-30*24*time.Hour), 0, "S-old", "older than reject_old_samples_max_age"), svc("r-old"))},
		{name: "too far behind", reason: "too_far_behind",
			before:  inStream(liveRecord(now.Add(-time.Minute), 0, "S-behind", "newest of its stream"), svc("r-behind")),
			refused: inStream(liveRecord(now.Add(-3*time.Hour), 1, "S-behind", "3h older than the newest, beyond max_chunk_age/2"), svc("r-behind"))},
		{name: "entry too large", reason: "line_too_long",
			refused: inStream(liveRecord(now.Add(-time.Minute), 0, "S-large", strings.Repeat("x", 300<<10)), svc("r-large"))},
		{name: "invalid labels", reason: "invalid_labels",
			refused: inStream(liveRecord(now.Add(-time.Minute), 0, "S-labels", "label name starts with a digit"), router.Label{Name: "1bad", Value: "x"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				if r := mustWrite(t, s, tc.before); r[0].Outcome != sinks.Delivered {
					t.Fatalf("entry before: %+v", r[0])
				}
			}
			good := inStream(liveRecord(now.Add(-time.Minute), 7, "S-good", "taken next to "+tc.name), svc("r-good"))
			res := mustWrite(t, s, tc.refused, good)
			if res[0].Outcome != sinks.Reject || res[0].Reason != tc.reason {
				t.Errorf("refused entry: %+v, want rejected %s", res[0], tc.reason)
			}
			if res[1].Outcome != sinks.Delivered {
				t.Errorf("entry pushed with it: %+v, want delivered", res[1])
			}
			t.Logf("loki said: %v", res[0].Err)
		})
	}
}

// TestRealLoki_RateLimited: Loki's 429 for a push over the tenant's
// ingestion rate is retried, never dead-lettered.
func TestRealLoki_RateLimited(t *testing.T) {
	l := lokitest.Start(t, lokitest.Limits("ingestion_rate_mb: 0.01", "ingestion_burst_size_mb: 0.01"))
	s := newRealSink(t, l.URL)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var batch []*sinks.Record
	for i := 0; i < 30; i++ { // about 30 KB, over the 10 KB burst
		batch = append(batch, inStream(liveRecord(t0, i, "S-rate", strings.Repeat("r", 1000)), svc("r-rate")))
	}
	for i, r := range mustWrite(t, s, batch...) {
		if r.Outcome != sinks.Retry || r.Reason != "rate_limited" {
			t.Fatalf("entry %d over the rate: %+v, want retry rate_limited", i, r)
		}
	}
	if r := mustWrite(t, s, inStream(liveRecord(t0, 99, "S-rate", "small"), svc("r-rate"))); r[0].Outcome != sinks.Delivered {
		t.Errorf("small push under the rate: %+v", r[0])
	}
}

// lossyProxy forwards pushes to Loki; while drop is set it closes the
// connection after Loki answered, so the sink never learns that Loki
// stored the push.
type lossyProxy struct {
	target string
	drop   atomic.Bool
}

func (p *lossyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if p.drop.CompareAndSwap(true, false) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

func instantQuery(t *testing.T, base, q string) float64 {
	t.Helper()
	u := base + "/loki/api/v1/query?" + url.Values{"query": {q}, "time": {strconv.FormatInt(time.Now().UnixNano(), 10)}}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %s: %d %s", q, resp.StatusCode, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Result) == 0 {
		return 0
	}
	v, _ := r.Data.Result[0].Value[1].(string)
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// TestRealLoki_RepushAfterLostAnswer shows what "no duplicates" means for
// Loki (docs/loki.md): Loki stored a push whose answer was lost, the sink
// pushed it again, and the two copies landed in different blocks of the
// stream. A log query shows the record once; count_over_time counts it
// twice; counting distinct record_ids counts it once; the sink counts the
// re-push.
func TestRealLoki_RepushAfterLostAnswer(t *testing.T) {
	// Small blocks, so that the copies land in different blocks without
	// pushing 256 KB in between.
	l := lokitest.Start(t, lokitest.Ingester("chunk_block_size: 2048"))
	proxy := &lossyProxy{target: l.URL}
	hs := httptest.NewServer(proxy)
	t.Cleanup(hs.Close)
	s := newRealSink(t, hs.URL)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	rec := inStream(liveRecord(t0, 0, "S-dup", "stored, answer lost"), svc("r-dup"))

	proxy.drop.Store(true)
	if r := mustWrite(t, s, rec); r[0].Outcome != sinks.Retry || r[0].Reason != "network" {
		t.Fatalf("push whose answer was lost: %+v, want retry network", r[0])
	}
	var filler []*sinks.Record // 10 KB after it: the stream cuts blocks
	for i := 1; i <= 10; i++ {
		filler = append(filler, inStream(liveRecord(t0, i, "S-dup", strings.Repeat("f", 1000)), svc("r-dup")))
	}
	for i, r := range mustWrite(t, s, filler...) {
		if r.Outcome != sinks.Delivered {
			t.Fatalf("filler %d: %+v", i, r)
		}
	}
	if r := mustWrite(t, s, rec); r[0].Outcome != sinks.Delivered { // the runtime's retry
		t.Fatalf("re-push: %+v", r[0])
	}
	if got := testutil.ToFloat64(s.m.repushed); got != 1 {
		t.Errorf("logweave_loki_repushed_entries_total = %v, want 1", got)
	}

	id := rec.Enriched.GetRecordId()
	var lines, counted, distinct, all float64
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines = 0
		for _, r := range queryRange(t, l.URL, `{service="r-dup"} | record_id="`+id+`"`, t0.Add(-time.Minute), time.Now().Add(time.Minute)) {
			lines += float64(len(r.Values))
		}
		counted = instantQuery(t, l.URL, `sum(count_over_time({service="r-dup"} | record_id="`+id+`" [1h]))`)
		distinct = instantQuery(t, l.URL, `count(sum by (record_id) (count_over_time({service="r-dup"} [1h])))`)
		all = instantQuery(t, l.URL, `sum(count_over_time({service="r-dup"} [1h]))`)
		if (lines == 1 && counted == 2 && distinct == 11) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lines != 1 {
		t.Errorf("log query returned the record %v times, want once", lines)
	}
	if counted != 2 || all != 12 {
		t.Errorf("count_over_time = %v for the record and %v in all, want 2 and 12: "+
			"Loki no longer counts a re-pushed entry twice, update docs/loki.md", counted, all)
	}
	if distinct != 11 {
		t.Errorf("distinct record_ids = %v, want 11", distinct)
	}
}
