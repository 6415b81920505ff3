package replay

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/testkit/esfake"
	"github.com/logweave/logweave/testkit/testkafka"
)

// Regression (issue 11.3): a replay of raw moved the window's misrouted
// records into the live raw topic (where the live enricher emitted them a
// second time). Now a replay writes nothing to the live raw topic: it
// enriches a misrouted record where it landed, and skips the copy the live
// enricher had moved out of the window.
func TestReplayRaw_MisroutedRecordsStayOutOfLiveRaw(t *testing.T) {
	const raw, enriched, dlq = "logweave.raw", "logweave.enriched", "logweave.dlq"
	c := testkafka.Start(t, kfake.SeedTopics(3, raw, enriched, dlq))
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
	adm := c.Admin()
	// A key of partition 2 whose log a foreign partitioner put on 0.
	key := ""
	part := kgo.StickyKeyPartitioner(nil).ForTopic(raw)
	for i := 0; key == ""; i++ {
		k := "S" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if part.Partition(&kgo.Record{Key: []byte(k)}, 3) == 2 {
			key = k
		}
	}
	sub := &v1.Submission{SubmitId: key}
	logRec := &v1.Envelope{RecordId: "mis-log", Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: uint64(time.Now().UnixNano()),
		SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR, Body: "boom", Service: "judge", Submission: sub}}}
	spanRec := &v1.Envelope{RecordId: "root", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Name: "submission", StartTimeUnixNano: uint64(time.Now().UnixNano()), EndTimeUnixNano: uint64(time.Now().UnixNano()) + 1, Service: "gateway", Submission: sub}}}
	pcl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	from := time.Now().Add(-time.Second)
	for _, r := range []struct {
		env *v1.Envelope
		p   int32
	}{{logRec, 0}, {spanRec, 2}} {
		b, _ := proto.Marshal(r.env)
		if err := pcl.ProduceSync(context.Background(), &kgo.Record{Topic: raw, Partition: r.p, Key: []byte(key), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// The live enricher moves the log to partition 2 and emits both.
	ecfg := enrich.DefaultConfig()
	ecfg.FlushInterval = 100 * time.Millisecond
	ecfg.CompletionGrace = 200 * time.Millisecond
	ecfg.TransactionalID = "live"
	live, err := enrich.New(ecfg, enrich.Topics{Raw: raw, Enriched: enriched, DLQ: dlq}, mustRules(t, enrich.DefaultRules()), base,
		enrich.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	liveDone := make(chan error, 1)
	go func() { liveDone <- live.Run(ctx); stopped.Store(true) }()
	waitEnd(t, adm, enriched, 2, 2)
	cancel()
	if err := <-liveDone; err != nil {
		t.Fatal(err)
	}
	before := ends(t, adm, raw)
	if before[2] < 2 {
		t.Fatalf("raw partition 2 ends at %d: the live enricher did not move the log there", before[2])
	}

	srv := esfake.New()
	defer srv.Close()
	rep, err := RunRaw(context.Background(), rawOptions(t, srv, base, "misrouted", from, mustRules(t, enrich.DefaultRules())))
	if err != nil {
		t.Fatal(err)
	}
	if after := ends(t, adm, raw); !equalOffsets(before, after) {
		t.Errorf("the replay wrote to the live raw topic: end offsets %v before, %v after", before, after)
	}
	docs := srv.Docs("backfill")
	for _, id := range []string{"mis-log", "root"} {
		if _, ok := docs[id]; !ok {
			t.Errorf("record %s missing from the replay's destination (%d docs): %s", id, len(docs), rep)
		}
	}
	if len(docs) != 2 {
		t.Errorf("%d documents, want 2", len(docs))
	}
}

func mustRules(t *testing.T, rc enrich.RulesConfig) *enrich.Rules {
	t.Helper()
	r, err := enrich.CompileRules(rc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ends(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	l, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for p, o := range a {
		if b[p] != o {
			return false
		}
	}
	return true
}

// waitEnd waits until partition p of topic has at least n readable records
// (read-committed end).
func waitEnd(t *testing.T, adm *kadm.Client, topic string, p int32, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := adm.ListCommittedOffsets(context.Background(), topic)
		if err == nil {
			if o, ok := l.Lookup(topic, p); ok && o.Offset >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%d never reached %d records", topic, p, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawOptions replays the raw window from from into the "backfill" index of
// srv, re-enriching with rules and fast test timings.
func rawOptions(t *testing.T, srv *esfake.Server, base []kgo.Opt, job string, from time.Time, rules *enrich.Rules) RawOptions {
	t.Helper()
	ecfg := elasticsearch.Default()
	ecfg.URLs = []string{srv.URL}
	reg := prometheus.NewRegistry()
	dest, err := elasticsearch.New(context.Background(), ecfg, reg, "es")
	if err != nil {
		t.Fatal(err)
	}
	rcfg, _ := router.Parse([]byte(`routes: [{name: backfill, sinks: ["*"], index: "backfill"}]`))
	rt, _ := router.New(rcfg)
	scfg := sinks.DefaultConfig("es")
	scfg.Batch.Linger = 10 * time.Millisecond
	en := enrich.DefaultConfig()
	en.FlushInterval = 100 * time.Millisecond
	en.CompletionGrace = 200 * time.Millisecond
	return RawOptions{
		Options: Options{Job: job, Sink: scfg, Dest: dest, Router: rt, Base: base, From: from, Registry: reg,
			Topics: sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, Every: 100 * time.Millisecond},
		RawTopic: "logweave.raw", Enrich: en, Rules: rules,
	}
}
