package enrich

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Regression (issue 11.1): a transaction whose EndTxn(commit) outlives the
// flush deadline but is applied by the broker used to be treated as a
// shutdown: no rewind, and the next flush produced the same records again.
// Now the failure is aborted, the state rewound from Kafka, and every record
// is out once.
func TestEnricher_TransactionPastDeadlineNotDuplicated(t *testing.T) {
	v := newEnv(t)
	var fired atomic.Bool
	side := v.cluster.Client()
	v.cluster.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.EndTxnRequest)
		if !req.Commit || !fired.CompareAndSwap(false, true) {
			return nil, nil, false
		}
		// The broker applies the commit (sent again on another
		// connection), but its answer never reaches the enricher, which
		// gives up at its deadline (transaction_timeout, 1.5s here; the
		// delay stays below the group session timeout so that only the
		// transaction is disturbed).
		var resp kmsg.Response
		v.cluster.SleepControl(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r, err := req.RequestWith(ctx, side)
			if err != nil || r.ErrorCode != 0 {
				t.Errorf("applying the commit on the side: %v %v", err, r)
			}
			resp = r
			<-time.After(2500 * time.Millisecond)
		})
		return resp, nil, true
	})
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 200 * time.Millisecond
	cfg.TransactionTimeout = 1500 * time.Millisecond
	en := v.startEnricher(cfg)
	cl := v.cluster.Client()
	a := keyFor(0)
	v.produceRaw(cl, a, logEnv("a-log", a, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	v.produceRaw(cl, a, rootSpan("a-span", a))
	waitFor(t, 30*time.Second, "the delayed transaction to fail", func() bool {
		return testutil.ToFloat64(en.e.m.txns.WithLabelValues("aborted")) >= 1
	})
	// A later submission: once it is out, any second copy of the first
	// would be out too (transactions are sequential).
	b := keyForOther(0, 7)
	v.produceRaw(cl, b, logEnv("b-log", b, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	v.produceRaw(cl, b, rootSpan("b-span", b))
	got := v.readEnriched(4, 30*time.Second)
	checkExactlyOnce(t, got, map[string]int{a: 2, b: 2})
}

// Regression (issue 11.2): misrouted records in a pending window were moved
// again by every owner that re-read the window, and their copies enriched
// again. The commit metadata now says how far records were moved (x=).
func TestEnricher_MisroutedMovedOnceAcrossOwners(t *testing.T) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 200 * time.Millisecond
	cfg.InactivityTimeout = 30 * time.Second
	first := v.startEnricher(cfg)
	cl := v.cluster.Client()
	// A pending submission holds partition 0's watermark...
	pending := keyFor(0)
	v.produceRaw(cl, pending, logEnv("p-log", pending, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	// ...and behind it, records of a submission of partition 2 that a
	// foreign partitioner put on partition 0.
	moved := keyFor(2)
	mcl := v.cluster.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, env := range []*v1.Envelope{logEnv("m-log", moved, v1.SeverityNumber_SEVERITY_NUMBER_ERROR), rootSpan("m-span", moved)} {
		b, _ := proto.Marshal(env)
		if err := mcl.ProduceSync(context.Background(), &kgo.Record{Topic: rawTopic, Partition: 0, Key: []byte(moved), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.readEnriched(2, 20*time.Second); len(got) != 2 {
		t.Fatalf("%d records enriched before the handover, want the 2 moved ones", len(got))
	}
	first.stop(t)
	// The next owner re-reads partition 0 from the pending record.
	cfg.InactivityTimeout = time.Second
	second := v.startEnricher(cfg)
	got := v.readEnriched(3, 20*time.Second)
	checkExactlyOnce(t, got, map[string]int{pending: 1, moved: 2})
	if n := testutil.ToFloat64(second.e.m.misrouted); n != 2 {
		t.Errorf("second owner counted %v misrouted records, want 2 (seen, not moved)", n)
	}
}

// Regression (issue 11.6): on a multi-broker Kafka the group's offsets can
// be stable while a data partition's commit marker is still on its way,
// so the enriched partition's read-committed end lags. Recovery used to
// scan only to that end and emitted again what it did not see. The kfake
// control below answers read-committed end-offset requests for the enriched
// topic with the end before the last transactions, as such a broker would.
func TestEnricher_RecoveryWaitsForEnrichedMarkers(t *testing.T) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 200 * time.Millisecond
	cfg.InactivityTimeout = 30 * time.Second
	first := v.startEnricher(cfg)
	cl := v.cluster.Client()
	pending := keyFor(0)
	v.produceRaw(cl, pending, logEnv("p-log", pending, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	want := map[string]int{pending: 1}
	for i := 0; i < 3; i++ {
		k := keyForOther(0, i)
		v.produceRaw(cl, k, logEnv(fmt.Sprintf("l%d", i), k, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
		v.produceRaw(cl, k, rootSpan(fmt.Sprintf("s%d", i), k))
		want[k] = 2
	}
	if got := v.readEnriched(6, 20*time.Second); len(got) != 6 {
		t.Fatalf("%d records before the handover, want 6", len(got))
	}
	first.stop(t)

	var stale atomic.Int32
	v.cluster.ControlKey(int16(kmsg.ListOffsets), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ListOffsetsRequest)
		if req.IsolationLevel != 1 || len(req.Topics) != 1 || req.Topics[0].Topic != enrichedTopic ||
			len(req.Topics[0].Partitions) == 0 || req.Topics[0].Partitions[0].Timestamp != -1 || stale.Add(1) > 20 {
			return nil, nil, false
		}
		v.cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewListOffsetsResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition, p.Offset, p.Timestamp, p.LeaderEpoch = rp.Partition, 0, -1, 0
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})
	cfg.InactivityTimeout = time.Second
	v.startEnricher(cfg)
	got := v.readEnriched(7, 20*time.Second)
	checkExactlyOnce(t, got, want)
	if stale.Load() == 0 {
		t.Error("the stale end-offset control never ran: the test did not exercise recovery")
	}
}

// startBounded starts an enricher bounded to the offsets before until in
// group, like a replay of raw.
func (v *env) startBounded(cfg Config, group string, until map[int32]int64) *enricher {
	v.t.Helper()
	cfg.GroupName = group
	return v.startEnricher(cfg, func(e *Enricher) { e.SetUntil(until) })
}

func (v *env) rawEnds() map[int32]int64 {
	v.t.Helper()
	ends, err := v.adm.ListEndOffsets(context.Background(), rawTopic)
	if err != nil {
		v.t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// Regression (issue 11.5 and 11.7): a bounded run closed Done after its
// final transaction aborted (the output lacked every record decided at the
// end), and after three seconds without records on a partition whose
// fetches were merely slow. Done now closes only once every partition's
// committed watermark reached the end of the window, after a committed
// flush.
func TestEnricher_BoundedDoneOnlyWhenCommittedToEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(v *env)
	}{
		{"final transaction aborted", func(v *env) {
			var fired atomic.Bool
			v.cluster.ControlKey(int16(kmsg.TxnOffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				if !fired.CompareAndSwap(false, true) {
					return nil, nil, false
				}
				req := kreq.(*kmsg.TxnOffsetCommitRequest)
				resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
				for _, rt := range req.Topics {
					t := kmsg.NewTxnOffsetCommitResponseTopic()
					t.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						p := kmsg.NewTxnOffsetCommitResponseTopicPartition()
						p.Partition, p.ErrorCode = rp.Partition, kerr.IllegalGeneration.Code
						t.Partitions = append(t.Partitions, p)
					}
					resp.Topics = append(resp.Topics, t)
				}
				return resp, nil, true
			})
		}},
		{"fetches slower than the old quiet rule", func(v *env) {
			var n atomic.Int32
			v.cluster.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				// The bounded enricher is the only client fetching.
				if req := kreq.(*kmsg.FetchRequest); len(req.Topics) > 0 && n.Add(1) <= 2 {
					v.cluster.SleepControl(func() { <-time.After(4 * time.Second) })
				}
				return nil, nil, false
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			cl := v.cluster.Client()
			want := map[string]int{}
			for i := 0; i < 3; i++ {
				k := keyForOther(0, i)
				v.produceRaw(cl, k, logEnv(fmt.Sprintf("l%d", i), k, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
				v.produceRaw(cl, k, rootSpan(fmt.Sprintf("s%d", i), k))
				want[k] = 2
			}
			until := v.rawEnds()
			tc.fault(v)
			cfg := testEnrichConfig()
			cfg.InactivityTimeout = time.Minute // decided only because the window ended
			en := v.startBounded(cfg, "test-bounded", until)
			select {
			case <-en.e.Done():
			case err := <-en.done:
				t.Fatalf("bounded run ended without Done: %v", err)
			case <-time.After(60 * time.Second):
				t.Fatal("bounded run never finished")
			}
			// Everything is out the moment Done closes.
			got := v.readEnrichedNow()
			checkExactlyOnce(t, got, want)
		})
	}
}

// A partition of the window that this member no longer owns counts as done
// only once its committed offset reached the end (issue 11.7: a revoked
// partition used to count as done).
func TestEnricher_WindowDoneNeedsEveryPartitionCommitted(t *testing.T) {
	e := &Enricher{until: map[int32]int64{0: 10, 1: 10, 2: 0}, untilCommitted: map[int32]int64{0: 10, 1: 4},
		states: map[int32]*partState{}, untilChecked: time.Now().Add(time.Hour)}
	if e.windowDone(context.Background()) {
		t.Fatal("done while partition 1 (revoked at 4) is short of its end 10")
	}
	e.untilCommitted[1] = 10
	if !e.windowDone(context.Background()) {
		t.Fatal("not done with every partition committed to its end")
	}
}

// readEnrichedNow reads the enriched topic read_committed up to its
// read-committed end as of now.
func (v *env) readEnrichedNow() []*v1.EnrichedRecord {
	v.t.Helper()
	ends, err := v.adm.ListCommittedOffsets(context.Background(), enrichedTopic)
	if err != nil {
		v.t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := v.cluster.Client(kgo.ConsumeTopics(enrichedTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	var out []*v1.EnrichedRecord
	deadline := time.Now().Add(20 * time.Second)
	for len(left) > 0 {
		if time.Now().After(deadline) {
			v.t.Fatalf("reading the enriched topic: partitions %v not read to their end", left)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			var er v1.EnrichedRecord
			if err := proto.Unmarshal(r.Value, &er); err != nil {
				v.t.Fatalf("enriched record at %d/%d: %v", r.Partition, r.Offset, err)
			}
			out = append(out, &er)
		})
	}
	return out
}
