package enrich

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/gen"
	"github.com/logweave/logweave/ingest"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/testkafka"
)

const (
	rawTopic      = "logweave.raw"
	enrichedTopic = "logweave.enriched"
	dlqTopic      = "logweave.dlq"
	nParts        = 4
)

var testTopicNames = Topics{Raw: rawTopic, Enriched: enrichedTopic, DLQ: dlqTopic}

type env struct {
	t       *testing.T
	cluster *testkafka.Cluster
	adm     *kadm.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := testkafka.Start(t, kfake.SeedTopics(nParts, rawTopic, enrichedTopic, dlqTopic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	return &env{t: t, cluster: c, adm: c.Admin()}
}

func testEnrichConfig() Config {
	cfg := DefaultConfig()
	// The default grace. The manifest-based expectations assume every
	// record of a submission is in before its decision; with a shorter
	// grace, a loaded machine can deliver a tail-triggering span (a slow
	// judge) after the root span's grace ran out, and the submission is
	// then head-sampled, as the design says, but not as the manifest
	// expects.
	cfg.CompletionGrace = 2 * time.Second
	cfg.InactivityTimeout = 5 * time.Second
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.TransactionTimeout = 3 * time.Second
	return cfg
}

type enricher struct {
	e      *Enricher
	cancel context.CancelFunc
	done   chan error
}

var txnSeq struct {
	sync.Mutex
	n int
}

func (v *env) startEnricher(cfg Config, setup ...func(*Enricher)) *enricher {
	v.t.Helper()
	txnSeq.Lock()
	txnSeq.n++
	cfg.TransactionalID = fmt.Sprintf("test-enrich-%d", txnSeq.n)
	txnSeq.Unlock()
	rules, err := CompileRules(DefaultRules())
	if err != nil {
		v.t.Fatal(err)
	}
	base := []kgo.Opt{kgo.SeedBrokers(v.cluster.Brokers()...), kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(3 * time.Second)}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := New(cfg, testTopicNames, rules, base, Deps{Logger: logger, Registerer: prometheus.NewRegistry()})
	if err != nil {
		v.t.Fatal(err)
	}
	for _, f := range setup {
		f(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	en := &enricher{e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { en.done <- e.Run(ctx) }()
	v.t.Cleanup(func() { en.stop(v.t) })
	return en
}

func (en *enricher) stop(t *testing.T) {
	t.Helper()
	if en.cancel == nil {
		return
	}
	en.cancel()
	en.cancel = nil
	select {
	case err := <-en.done:
		if err != nil {
			t.Errorf("enricher: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("enricher did not stop")
	}
}

// kill closes the enricher's client under it, mid-stream, without a final
// flush or commit: a crashed process.
func (en *enricher) kill() {
	en.e.cl.Close()
	en.cancel()
	en.cancel = nil
	<-en.done
}

// runGen sends a gen workload through a real ingest server into raw and
// returns the manifest.
func (v *env) runGen(seed uint64, count int, rate float64) []gen.ManifestEntry {
	v.t.Helper()
	icfg := ingest.Default()
	srv, err := ingest.New(icfg, rawTopic, v.cluster.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		v.t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	var manifest bytes.Buffer
	rep, err := gen.Run(context.Background(), gen.Config{URL: hs.URL, Logs: "otlp", Rate: rate, Count: count, Seed: seed, Users: 20,
		Rates: gen.Rates{Error: 0.1, Timeout: 0.05, Slow: 0.1, Crash: 0.05}, Manifest: &manifest})
	if err != nil {
		v.t.Fatalf("gen: %v (%s)", err, rep)
	}
	entries, err := gen.ReadManifest(&manifest)
	if err != nil {
		v.t.Fatal(err)
	}
	return entries
}

// expected computes, from the manifest and the default rules, how many
// records of each submission must be kept.
func expected(t *testing.T, entries []gen.ManifestEntry) map[string]int {
	t.Helper()
	rules, _ := CompileRules(DefaultRules())
	out := map[string]int{}
	for _, e := range entries {
		tail := e.Truth.Error || e.Truth.Timeout || e.Truth.Crash != ""
		u := sampleHash(e.SubmitID)
		n := 0
		for _, rc := range e.Records {
			if tail {
				n += rc.Count
				continue
			}
			rank := v1.LevelRank(rc.Level)
			if rc.Kind == "span" {
				rank = 3
			}
			if u < rules.HeadRate(rank, rc.Service) {
				n += rc.Count
			}
		}
		if n > 0 {
			out[e.SubmitID] = n
		}
	}
	return out
}

// readEnriched reads the enriched topic read_committed until want records
// arrived (and a little longer, to catch extras).
func (v *env) readEnriched(want int, timeout time.Duration) []*v1.EnrichedRecord {
	v.t.Helper()
	cl := v.cluster.Client(kgo.ConsumeTopics(enrichedTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var out []*v1.EnrichedRecord
	deadline := time.Now().Add(timeout)
	extra := time.Time{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var er v1.EnrichedRecord
			if err := proto.Unmarshal(r.Value, &er); err != nil {
				v.t.Fatalf("enriched record at %d/%d: %v", r.Partition, r.Offset, err)
			}
			if r.Partition != er.GetSource().GetPartition() {
				v.t.Errorf("record from raw partition %d written to enriched partition %d", er.GetSource().GetPartition(), r.Partition)
			}
			out = append(out, &er)
		})
		if len(out) >= want && extra.IsZero() {
			extra = time.Now().Add(time.Second)
		}
		if !extra.IsZero() && time.Now().After(extra) || time.Now().After(deadline) {
			return out
		}
	}
}

// checkExactlyOnce compares enriched output with the expectation: every
// expected record once, nothing else.
func checkExactlyOnce(t *testing.T, got []*v1.EnrichedRecord, want map[string]int) {
	t.Helper()
	perSub := map[string]int{}
	seen := map[string]int{}
	for _, r := range got {
		perSub[r.GetSubmission().GetSubmitId()]++
		seen[r.GetRecordId()]++
	}
	var dups []string
	for id, n := range seen {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	sort.Strings(dups)
	if len(dups) > 0 {
		t.Errorf("%d records emitted more than once, e.g. %v", len(dups), dups[:min(3, len(dups))])
	}
	bad := 0
	for sub, n := range want {
		if perSub[sub] != n {
			bad++
			if bad <= 5 {
				t.Errorf("submission %s: %d records, want %d", sub, perSub[sub], n)
			}
		}
	}
	for sub, n := range perSub {
		if want[sub] == 0 {
			bad++
			if bad <= 5 {
				t.Errorf("submission %s: %d records, want none", sub, n)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d submissions differ in all", bad)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keyFor returns a key that hashes to partition p.
func keyFor(p int32) string { return keyForOther(p, -1) }

func keyForOther(p int32, n int) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("S%d-%d", n+1, i)
		if int32(kgo.StickyKeyPartitioner(nil).ForTopic(rawTopic).Partition(&kgo.Record{Key: []byte(k)}, nParts)) == p {
			return k
		}
	}
}

var idSeq struct {
	sync.Mutex
	n byte
}

func newID(n int) []byte {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	b := make([]byte, n)
	b[0], b[n-1] = 1, idSeq.n
	return b
}

func logEnv(id, submit string, sev v1.SeverityNumber) *v1.Envelope {
	return &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 1, SeverityNumber: sev, Body: "x", Service: "judge",
		Submission: &v1.Submission{SubmitId: submit}}}}
}

func rootSpan(id, submit string) *v1.Envelope {
	return &v1.Envelope{RecordId: id, Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: newID(16), SpanId: newID(8), Name: "submission",
		StartTimeUnixNano: 1, EndTimeUnixNano: 2, Service: "gateway", Submission: &v1.Submission{SubmitId: submit}}}}
}

func (v *env) produceRaw(cl *kgo.Client, key string, env *v1.Envelope) int64 {
	v.t.Helper()
	b, _ := proto.Marshal(env)
	r := &kgo.Record{Topic: rawTopic, Key: []byte(key), Value: b}
	if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		v.t.Fatal(err)
	}
	return r.Offset
}
