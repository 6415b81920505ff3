package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/internal/lokitest"
	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
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
