package replay

import (
	"context"
	"fmt"
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
	"github.com/logweave/logweave/testkit/esfake"
	"github.com/logweave/logweave/testkit/testkafka"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*testkafka.Cluster, []kgo.Opt) {
	t.Helper()
	c := testkafka.Start(t, kfake.SeedTopics(3, "logweave.enriched", "logweave.dlq"))
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for phase, name := range []string{"before", "window", "after"} {
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("%s-%02d", name, i)
			b, _ := proto.Marshal(&v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{
				TimeUnixNano: uint64(t0.Add(time.Duration(phase) * time.Hour).UnixNano()), Body: id, Service: "judge"}}}})
			recs = append(recs, &kgo.Record{Topic: "logweave.enriched", Partition: int32(i % 3), Value: b, Timestamp: t0.Add(time.Duration(phase)*time.Hour + time.Duration(i)*time.Second)})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A live sink group with progress of its own, which replays must not touch.
	offs := make(kadm.Offsets)
	offs.Add(kadm.Offset{Topic: "logweave.enriched", Partition: 0, At: 17, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "logweave-sink-es", offs); err != nil {
		t.Fatal(err)
	}
	return c, []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
}

func options(t *testing.T, srv *esfake.Server, base []kgo.Opt, job string) Options {
	t.Helper()
	ecfg := elasticsearch.Default()
	ecfg.URLs = []string{srv.URL}
	reg := prometheus.NewRegistry()
	dest, err := elasticsearch.New(context.Background(), ecfg, reg, "replay")
	if err != nil {
		t.Fatal(err)
	}
	rcfg, _ := router.Parse([]byte(`routes: [{name: replay, sinks: ["*"], index: "replay-idx"}]`))
	rt, _ := router.New(rcfg)
	scfg := sinks.DefaultConfig("es")
	scfg.Batch.MaxRecords, scfg.Batch.Linger, scfg.CommitInterval = 5, 10*time.Millisecond, 20*time.Millisecond
	return Options{Job: job, Sink: scfg, Dest: dest, Router: rt, Topics: sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"},
		Base: base, From: t0.Add(30 * time.Minute), To: t0.Add(90 * time.Minute), Registry: reg, Every: 50 * time.Millisecond}
}

func TestReplay_WindowIntoNewIndex(t *testing.T) {
	c, base := setup(t)
	srv := esfake.New()
	defer srv.Close()
	rep, err := Run(context.Background(), options(t, srv, base, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	docs := srv.Docs("replay-idx")
	if len(docs) != 40 {
		t.Fatalf("%d documents, want the 40 of the window (%s)", len(docs), rep)
	}
	for i := 0; i < 40; i++ {
		if _, ok := docs[fmt.Sprintf("window-%02d", i)]; !ok {
			t.Errorf("window-%02d missing", i)
		}
	}
	if rep.Delivered != 40 || rep.Window != 40 || rep.Resumed {
		t.Errorf("report: %s", rep)
	}
	offs, _ := kadm.NewClient(c.Client()).FetchOffsets(context.Background(), "logweave-sink-es")
	if o, _ := offs.Lookup("logweave.enriched", 0); o.At != 17 || len(offs) != 1 {
		t.Errorf("the live sink's offsets moved: %v", offs)
	}
}

func TestReplay_KilledAndRerunCompletes(t *testing.T) {
	_, base := setup(t)
	srv := esfake.New()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(srv.Docs("replay-idx")) < 10 {
			time.Sleep(time.Millisecond)
		}
		// Elasticsearch goes away, then the job is killed.
		for i := 0; i < 1000; i++ {
			srv.FailNext(503)
		}
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	o := options(t, srv, base, "k1")
	o.Grace = 100 * time.Millisecond
	if _, err := Run(ctx, o); err == nil {
		t.Fatal("an interrupted replay reported success")
	}
	mid := len(srv.Docs("replay-idx"))
	if mid >= 40 {
		t.Fatalf("the replay was not interrupted mid-way (%d documents)", mid)
	}
	srv.ClearFaults()
	rep, err := Run(context.Background(), options(t, srv, base, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed {
		t.Error("the rerun did not resume the job")
	}
	if n := len(srv.Docs("replay-idx")); n != 40 {
		t.Errorf("%d documents after the rerun, want 40, each once (create on record_id)", n)
	}
	t.Logf("interrupted at %d documents; rerun: %s", mid, rep)
}
