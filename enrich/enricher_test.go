package enrich

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/gen"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// (a) A gen workload through ingest and enrich: the enriched topic holds
// exactly the records the manifest and the rules say must be kept.
func TestEnricher_GenWorkloadMatchesManifest(t *testing.T) {
	v := newEnv(t)
	v.startEnricher(testEnrichConfig())
	entries := v.runGen(11, 150, 300)
	want := expected(t, entries)
	got := v.readEnriched(total(want), 30*time.Second)
	checkExactlyOnce(t, got, want)
	var joined, missing int
	for _, r := range got {
		if r.GetRecord().GetLog() == nil {
			continue
		}
		switch r.GetSpan().GetJoin() {
		case v1.JoinStatus_JOIN_STATUS_JOINED:
			joined++
			if r.GetSpan().GetName() == "" || r.GetSpan().GetDurationNanos() <= 0 {
				t.Errorf("joined log without span context: %v", r.GetSpan())
			}
		default:
			missing++
		}
		if r.GetSubmission().GetUserId() == "" || r.GetSubmission().SubmissionSeq == nil {
			t.Errorf("log without completed submission context: %v", r.GetSubmission())
		}
		if r.GetSampling().GetKeptBy() == "" || r.GetSampling().GetSampleWeight() < 1 {
			t.Errorf("sampling = %v", r.GetSampling())
		}
	}
	if joined == 0 || missing > 0 {
		t.Errorf("%d logs joined, %d missing their span; gen logs all run in spans", joined, missing)
	}
	t.Logf("%d submissions, %d kept records", len(entries), len(got))
}

// (b) An enricher killed mid-stream (client closed, nothing flushed) and
// replaced: read_committed output has every expected record exactly once.
func TestEnricher_KilledMidStreamExactlyOnce(t *testing.T) {
	v := newEnv(t)
	first := v.startEnricher(testEnrichConfig())
	done := make(chan []gen.ManifestEntry)
	go func() { done <- v.runGen(21, 200, 100) }()
	// Let it work for a while, then kill it with submissions pending and,
	// likely, a transaction open.
	time.Sleep(1200 * time.Millisecond)
	first.kill()
	v.startEnricher(testEnrichConfig())
	entries := <-done
	want := expected(t, entries)
	got := v.readEnriched(total(want), 60*time.Second)
	checkExactlyOnce(t, got, want)
}

// (c) Two enrichers with partitions moving between them under load.
func TestEnricher_RebalanceUnderLoadExactlyOnce(t *testing.T) {
	v := newEnv(t)
	a := v.startEnricher(testEnrichConfig())
	done := make(chan []gen.ManifestEntry)
	go func() { done <- v.runGen(31, 300, 100) }()
	time.Sleep(700 * time.Millisecond)
	b := v.startEnricher(testEnrichConfig()) // partitions move to b
	time.Sleep(700 * time.Millisecond)
	a.stop(t) // and back again
	time.Sleep(700 * time.Millisecond)
	v.startEnricher(testEnrichConfig())
	time.Sleep(500 * time.Millisecond)
	b.stop(t)
	entries := <-done
	want := expected(t, entries)
	got := v.readEnriched(total(want), 60*time.Second)
	checkExactlyOnce(t, got, want)
}

// (d) Committed offsets never pass the oldest record of a pending
// submission: submissions without a root span stay pending until the
// inactivity timeout, and kadm shows the commits waiting for them.
func TestEnricher_CommitsStopAtOldestPending(t *testing.T) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 500 * time.Millisecond
	// Inactivity runs on the partition's read clock from the record's own
	// timestamp (clock.go), not from when the enricher got to it: longer
	// than the checks below can take on a loaded machine (the emitted
	// records' read, up to 11 s, then 2 s).
	cfg.InactivityTimeout = 16 * time.Second
	v.startEnricher(cfg)
	cl := v.cluster.Client()
	// On partition p: a pending submission (a log, no root span), then
	// complete submissions after it.
	pendingKey := keyFor(0)
	pendingOff := v.produceRaw(cl, pendingKey, logEnv("p1", pendingKey, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	var after int64
	for i := 0; i < 5; i++ {
		k := keyForOther(0, i)
		v.produceRaw(cl, k, logEnv(fmt.Sprintf("l%d", i), k, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
		after = v.produceRaw(cl, k, rootSpan(fmt.Sprintf("s%d", i), k))
	}
	// The complete ones are decided and emitted...
	got := v.readEnriched(10, 10*time.Second)
	if len(got) != 10 {
		t.Fatalf("%d records emitted, want the 10 of the complete submissions", len(got))
	}
	// ...but the commit stays at the pending submission's first record.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		offs, err := v.adm.FetchOffsets(context.Background(), Group)
		if err == nil {
			if o, ok := offs.Lookup(rawTopic, 0); ok && o.At > pendingOff {
				t.Fatalf("committed %d, past the pending record at %d", o.At, pendingOff)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// After the inactivity timeout it is decided and the commit moves on.
	waitFor(t, 40*time.Second, "the commit to pass everything", func() bool {
		offs, err := v.adm.FetchOffsets(context.Background(), Group)
		if err != nil {
			return false
		}
		o, ok := offs.Lookup(rawTopic, 0)
		// Past the last root (trace links and transaction markers may
		// follow it on the partition).
		return ok && o.At >= after+1
	})
}

// A raw record on a partition its key does not hash to (produced with
// another partitioner) is moved to the right partition in the same
// transaction, counted, and enriched there.
func TestEnricher_MisroutedRecordMovesToItsPartition(t *testing.T) {
	v := newEnv(t)
	en := v.startEnricher(testEnrichConfig())
	key := keyFor(2)
	cl := v.cluster.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, env := range []*v1.Envelope{logEnv("mis-log", key, v1.SeverityNumber_SEVERITY_NUMBER_ERROR), rootSpan("mis-span", key)} {
		b, _ := proto.Marshal(env)
		r := &kgo.Record{Topic: rawTopic, Partition: 1, Key: []byte(key), Value: b} // wrong: key hashes to 2
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := v.readEnriched(2, 15*time.Second)
	if len(got) != 2 {
		t.Fatalf("%d enriched records, want 2", len(got))
	}
	for _, r := range got {
		if r.GetSource().GetPartition() != 2 {
			t.Errorf("%s enriched from raw partition %d, want 2 (where its key belongs)", r.GetRecordId(), r.GetSource().GetPartition())
		}
		if r.GetSampling().GetKeptBy() != "error" {
			t.Errorf("%s kept_by %q: the moved records were not joined as one submission", r.GetRecordId(), r.GetSampling().GetKeptBy())
		}
	}
	if n := testutil.ToFloat64(en.e.m.misrouted); n != 2 {
		t.Errorf("misrouted metric = %v, want 2", n)
	}
}
