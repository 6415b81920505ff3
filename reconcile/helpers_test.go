package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/loki"
	"github.com/logweave/logweave/testkit/esfake"
	"github.com/logweave/logweave/testkit/lokitest"
	"github.com/logweave/logweave/testkit/testkafka"
)

var topics = sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"}

// tenant is the Loki tenant the test's loki sink writes to.
const tenant = "team-a"

// fixture is a topic of enriched records for five submissions, an
// Elasticsearch contract server and a real multi-tenant Loki.
type fixture struct {
	t     *testing.T
	c     *testkafka.Cluster
	base  []kgo.Opt
	es    *esfake.Server
	loki  *lokitest.Loki
	rt    *router.Router
	start time.Time
	// recs holds each submission's records, span first.
	recs map[string][]*v1.EnrichedRecord
}

var submissionIDs = []string{"S1", "S2", "S3", "S4", "S5"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, recs: map[string][]*v1.EnrichedRecord{}}
	f.loki = lokitest.Start(t, lokitest.MultiTenant())
	f.es = esfake.New()
	t.Cleanup(f.es.Close)
	f.c = testkafka.Start(t, kfake.SeedTopics(3, topics.Enriched), kfake.SeedTopics(1, topics.DLQ))
	f.base = []kgo.Opt{kgo.SeedBrokers(f.c.Brokers()...)}
	rt, err := router.New(router.Default())
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	f.start = time.Now().Add(-time.Minute).Truncate(time.Second)
	var krs []*kgo.Record
	for i, sid := range submissionIDs {
		at := f.start.Add(time.Duration(i) * time.Second)
		trace := bytes.Repeat([]byte{byte(i + 1)}, 16)
		sub := &v1.Submission{SubmitId: sid, UserId: "u" + sid, Stage: v1.Stage_STAGE_JUDGE}
		recs := []*v1.EnrichedRecord{{RecordId: sid + "-span", Submission: sub, Record: &v1.Envelope{RecordId: sid + "-span", Record: &v1.Envelope_Span{Span: &v1.Span{
			TraceId: trace, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, byte(i)}, Name: "judge", Service: "judge",
			StartTimeUnixNano: uint64(at.UnixNano()), EndTimeUnixNano: uint64(at.Add(300 * time.Millisecond).UnixNano()), Submission: sub}}}}}
		for j, lvl := range []v1.SeverityNumber{v1.SeverityNumber_SEVERITY_NUMBER_INFO, v1.SeverityNumber_SEVERITY_NUMBER_WARN, v1.SeverityNumber_SEVERITY_NUMBER_ERROR} {
			id := fmt.Sprintf("%s-log%d", sid, j)
			recs = append(recs, &v1.EnrichedRecord{RecordId: id, Submission: sub, Sampling: &v1.Sampling{KeptBy: "error"}, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{
				TimeUnixNano: uint64(at.Add(time.Duration(j+1) * 10 * time.Millisecond).UnixNano()), SeverityNumber: lvl, Body: "line " + id,
				TraceId: trace, Service: "judge", Submission: sub}}}})
		}
		f.recs[sid] = recs
		for _, r := range recs {
			b, err := proto.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			krs = append(krs, &kgo.Record{Topic: topics.Enriched, Key: []byte(sid), Value: b, Timestamp: at})
		}
	}
	if err := f.c.Client().ProduceSync(context.Background(), krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) esConfig() elasticsearch.Config {
	c := elasticsearch.Default()
	c.URLs = []string{f.es.URL}
	return c
}

func (f *fixture) lokiConfig() loki.Config {
	c := loki.Default()
	c.URL = f.loki.URL
	c.Tenant = tenant
	return c
}

func (f *fixture) esSink() sinks.Sink {
	f.t.Helper()
	s, err := elasticsearch.New(context.Background(), f.esConfig(), prometheus.NewRegistry(), "es")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

func (f *fixture) lokiSink() sinks.Sink {
	f.t.Helper()
	s, err := loki.New(f.lokiConfig(), prometheus.NewRegistry(), "loki")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

// deliver runs the sink's consumer group (logweave-sink-<name>) over the
// whole topic, as `logweave sink` does, until it committed the end.
func (f *fixture) deliver(name string, dest sinks.Sink) {
	f.t.Helper()
	cfg := sinks.DefaultConfig(name)
	cfg.Batch.MaxRecords, cfg.Batch.Linger, cfg.CommitInterval = 3, 10*time.Millisecond, 20*time.Millisecond
	cfg.MaxQueuedRecords = 10
	r, err := sinks.New(cfg, dest, f.rt, topics, f.base, time.Second, sinks.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		f.t.Fatal(err)
	}
	ends, err := kadm.NewClient(f.c.Client()).ListEndOffsets(context.Background(), topics.Enriched)
	if err != nil {
		f.t.Fatal(err)
	}
	from, until := map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { from[o.Partition], until[o.Partition] = 0, o.Offset })
	r.SetUntil(from, until)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Done():
	case err := <-done:
		cancel()
		f.t.Fatalf("sink %s stopped: %v", name, err)
	case <-time.After(60 * time.Second):
		cancel()
		<-done
		f.t.Fatalf("sink %s did not commit the end of the topic within 60s", name)
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		f.t.Fatalf("sink %s: %v", name, err)
	}
}

// options checks the es and loki sinks from a minute before the records.
func (f *fixture) options() Options {
	f.t.Helper()
	// Through the factories, as logweave reconcile builds them.
	ec, lc := f.esConfig(), f.lokiConfig()
	esl, err := elasticsearch.NewFactory().NewLookup(&ec, sinks.LookupOptions{Index: "logweave-*"})
	if err != nil {
		f.t.Fatal(err)
	}
	ll, err := loki.NewFactory().NewLookup(&lc, sinks.LookupOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return Options{Base: f.base, Topics: topics, From: f.start.Add(-time.Minute), Settle: 30 * time.Second, Targets: []Target{
		{Name: "es", Router: f.rt, Dest: esl, Writer: f.esSink()},
		{Name: "loki", Router: f.rt, Dest: ll, Writer: f.lokiSink()},
	}}
}

func (f *fixture) run(o Options) *Report {
	f.t.Helper()
	rep, err := Run(context.Background(), o)
	if err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	f.t.Logf("report:\n%s", b.String())
	return rep
}

// skipping is a faulty sink: it acknowledges the first batch holding a
// record of submission skip without writing it.
type skipping struct {
	sinks.Sink
	skip string

	mu      sync.Mutex
	done    bool
	skipped map[string][]string // submission -> record ids
}

func (s *skipping) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	s.mu.Lock()
	hit := false
	if !s.done {
		for _, r := range batch {
			if r.Enriched.GetSubmission().GetSubmitId() == s.skip {
				hit = true
			}
		}
	}
	if hit {
		s.done = true
		s.skipped = map[string][]string{}
		for _, r := range batch {
			sid := r.Enriched.GetSubmission().GetSubmitId()
			s.skipped[sid] = append(s.skipped[sid], r.Enriched.GetRecordId())
		}
	}
	s.mu.Unlock()
	if !hit {
		return s.Sink.Write(ctx, batch)
	}
	out := make([]sinks.Result, len(batch))
	for i := range out {
		out[i] = sinks.Ok()
	}
	return out, nil
}

// retenanting writes the records of one submission to another tenant.
type retenanting struct {
	sinks.Sink
	submission, tenant string
}

func (s *retenanting) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	out := make([]*sinks.Record, len(batch))
	for i, r := range batch {
		c := *r
		if r.Enriched.GetSubmission().GetSubmitId() == s.submission {
			c.Dest.Tenant = s.tenant
		}
		out[i] = &c
	}
	return s.Sink.Write(ctx, out)
}

// pushJSON pushes one entry to Loki's JSON push API with structured
// metadata, as a writer other than logweave would.
func (f *fixture) pushJSON(labels map[string]string, ts time.Time, line string, meta map[string]string) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"streams": []any{map[string]any{
		"stream": labels, "values": []any{[]any{fmt.Sprint(ts.UnixNano()), line, meta}},
	}}})
	req, _ := http.NewRequest(http.MethodPost, f.loki.URL+"/loki/api/v1/push", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		f.t.Fatalf("pushing to loki: %s", resp.Status)
	}
}

// diffs indexes a report's differences by "sink/submission".
func diffs(rep *Report) map[string]*SinkResult {
	out := map[string]*SinkResult{}
	for _, d := range rep.Differences {
		out[d.Sink+"/"+d.Submission] = d
	}
	return out
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

func summary(rep *Report, sink string) SinkSummary {
	for _, s := range rep.Sinks {
		if s.Sink == sink {
			return s
		}
	}
	return SinkSummary{}
}
