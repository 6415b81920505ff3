package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/ops"
	"github.com/logweave/logweave/testkit/esfake"
)

// Result is one role's measurement.
type Result struct {
	Round   int
	Role    string
	Records int64
	CPU     time.Duration
	Wall    time.Duration
	PeakRSS int64
	// Note is role-specific detail (enrich memory, sink outcomes).
	Note string
}

// PerCPUSecond is records per CPU-second of the process.
func (r Result) PerCPUSecond() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Records) / r.CPU.Seconds()
}

// Run measures every role, Rounds times, each round on a fresh broker, and
// returns the results in order. progress gets a line per step.
func Run(ctx context.Context, cfg Config, progress io.Writer) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the logweave binary: %w", err)
		}
		cfg.Binary = exe
	}
	if cfg.Base.IsZero() {
		cfg.Base = time.Now().Truncate(time.Minute)
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "logweave-bench-")
		if err != nil {
			return nil, fmt.Errorf("creating work directory: %w", err)
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	if contains(cfg.Sinks, "loki") {
		bin, why := lokiBinary(cfg.LokiBin)
		if bin == "" {
			fmt.Fprintf(progress, "bench: skipping the loki row: %s\n", why)
			cfg.Sinks = without(cfg.Sinks, "loki")
		}
	}
	reqs, records := workload(cfg)
	fmt.Fprintf(progress, "bench: %d submissions, %d records in %d OTLP/HTTP protobuf requests; work dir %s\n", cfg.Submissions, records, len(reqs), cfg.Dir)
	var results []Result
	for round := 1; round <= cfg.Rounds; round++ {
		rs, err := runRound(ctx, cfg, round, reqs, int64(records), progress)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("round %d: %w", round, err)
		}
	}
	return results, nil
}

// round is one round's fixtures.
type round struct {
	cfg      Config
	n        int
	dir      string
	config   string // the children's configuration file
	broker   string
	adm      *kadm.Client
	progress io.Writer
	// es is the Elasticsearch sink's destination; nil without that sink.
	es *esfake.Server
	// lokiURL is where the loki sink pushes: a Loki started by sink("loki").
	lokiURL string
}

func runRound(ctx context.Context, cfg Config, n int, reqs []request, records int64, progress io.Writer) ([]Result, error) {
	r := &round{cfg: cfg, n: n, dir: filepath.Join(cfg.Dir, fmt.Sprintf("round%d", n)), progress: progress}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	var es *esfake.Server
	if contains(cfg.Sinks, "es") {
		es = esfake.New()
		defer es.Close()
		r.es = es
	}
	var err error
	if r.broker, err = freeAddr(); err != nil {
		return nil, err
	}
	if contains(cfg.Sinks, "loki") {
		// The port is taken when Loki starts, before the loki sink; the
		// children's configuration names it now.
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		r.lokiURL = "http://" + addr
	}
	if err := r.writeConfig(es); err != nil {
		return nil, err
	}
	brokerAdmin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := strings.Cut(r.broker, ":")
	broker, err := startChild(cfg.Binary, r.dir, "broker", brokerAdmin, nil, "broker", "-c", r.config, "--admin", brokerAdmin,
		"--port", port, "--partitions", fmt.Sprint(cfg.Partitions))
	if err != nil {
		return nil, err
	}
	defer broker.stop(10 * time.Second)
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	err = broker.waitReady(rctx)
	cancel()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker))
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	defer cl.Close()
	r.adm = kadm.NewClient(cl)

	var results []Result
	res, err := r.ingest(ctx, reqs, records)
	if err != nil {
		return results, fmt.Errorf("ingest: %w", err)
	}
	results = append(results, res)
	r.report(res)
	if cfg.IngestOnly {
		return results, nil
	}
	res, err = r.enrich(ctx, records)
	if err != nil {
		return results, fmt.Errorf("enrich: %w", err)
	}
	results = append(results, res)
	r.report(res)
	for _, s := range cfg.Sinks {
		res, err := r.sink(ctx, s)
		if err != nil {
			return results, fmt.Errorf("sink %s: %w", s, err)
		}
		results = append(results, res)
		r.report(res)
	}
	return results, nil
}

func (r *round) report(res Result) {
	fmt.Fprintf(r.progress, "bench: round %d %-8s %9d records  %7.2f CPU-s  %7.2f s wall  %9.0f records/CPU-s  peak RSS %4d MiB  %s\n",
		res.Round, res.Role, res.Records, res.CPU.Seconds(), res.Wall.Seconds(), res.PerCPUSecond(), res.PeakRSS>>20, res.Note)
}

func (r *round) writeConfig(es *esfake.Server) error {
	var b strings.Builder
	fmt.Fprintf(&b, "log:\n  level: warn\nkafka:\n  brokers: [%q]\n  topics:\n    raw:\n      partitions: %d\n    enriched:\n      partitions: %d\n",
		r.broker, r.cfg.Partitions, r.cfg.Partitions)
	rules := r.cfg.RulesFile
	if r.cfg.KeepAll {
		rules = filepath.Join(r.dir, "rules.yaml")
		if err := os.WriteFile(rules, []byte(keepAllRules), 0o644); err != nil {
			return err
		}
	}
	if rules != "" {
		fmt.Fprintf(&b, "enrich:\n  rules_file: %q\n", rules)
	}
	if len(r.cfg.IngestSettings) > 0 {
		b.WriteString("ingest:\n")
		for _, l := range r.cfg.IngestSettings {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	b.WriteString("sinks:\n")
	fmt.Fprintf(&b, "  - name: file\n    type: file\n    file:\n      dir: %q\n", filepath.Join(r.dir, "files"))
	if es != nil {
		fmt.Fprintf(&b, "  - name: es\n    type: elasticsearch\n    elasticsearch:\n      urls: [%q]\n", es.URL)
	}
	if r.lokiURL != "" {
		fmt.Fprintf(&b, "  - name: loki\n    type: loki\n    loki:\n      url: %q\n", r.lokiURL)
	}
	r.config = filepath.Join(r.dir, "logweave.yaml")
	return os.WriteFile(r.config, []byte(b.String()), 0o644)
}

// start starts a role and waits until it is ready; the usage at that
// moment is returned so that startup is not counted.
func (r *round) start(ctx context.Context, name string, args ...string) (*child, usage, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, usage{}, err
	}
	var env []string
	if r.cfg.ProfileDir != "" {
		env = append(env, "LOGWEAVE_PROFILE_DIR="+r.cfg.ProfileDir, fmt.Sprintf("LOGWEAVE_PROFILE_NAME=r%d-%s", r.n, name))
	}
	args = append(args, "-c", r.config, "--admin", admin)
	c, err := startChild(r.cfg.Binary, r.dir, name, admin, env, args...)
	if err != nil {
		return nil, usage{}, err
	}
	if err := c.waitReady(ctx); err != nil {
		c.stop(10 * time.Second)
		return nil, usage{}, err
	}
	u, err := c.usage()
	if err != nil {
		c.stop(10 * time.Second)
		return nil, usage{}, err
	}
	return c, u, nil
}

func (r *round) ingest(ctx context.Context, reqs []request, records int64) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	listen, err := freeAddr()
	if err != nil {
		return Result{}, err
	}
	c, u0, err := r.start(ctx, "ingest", "ingest", "--listen", listen, "--grpc-listen", "")
	if err != nil {
		return Result{}, err
	}
	defer c.stop(30 * time.Second)
	t0 := time.Now()
	if err := send(ctx, "http://"+listen, reqs, r.cfg.Senders); err != nil {
		return Result{}, err
	}
	wall := time.Since(t0)
	u1, err := c.usage()
	if err != nil {
		return Result{}, err
	}
	m, err := c.metrics(ctx)
	if err != nil {
		return Result{}, err
	}
	accepted := int64(m["logweave_ingest_records_accepted_total"])
	if accepted != records {
		return Result{}, fmt.Errorf("ingest accepted %d records of %d", accepted, records)
	}
	// franz-go's client metrics: bytes written to the broker (compressed
	// batches and request framing) and the batches' uncompressed size.
	note := fmt.Sprintf("to Kafka %.1f MiB written (%.0f B/record), %.1f MiB uncompressed",
		m["logweave_kafka_write_bytes_total"]/(1<<20), m["logweave_kafka_write_bytes_total"]/float64(accepted),
		m["logweave_kafka_produce_bytes_total"]/(1<<20))
	return Result{Round: r.n, Role: "ingest", Records: accepted, CPU: u1.cpu - u0.cpu, Wall: wall, PeakRSS: u1.peakRSS, Note: note}, nil
}

// send posts every request, senders at a time, each until it is answered
// 200 (429 and 503 are retried after a short pause, within ctx).
func send(ctx context.Context, base string, reqs []request, senders int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, senders)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) || ctx.Err() != nil {
					return
				}
				if err := post(ctx, client, base, reqs[i]); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func post(ctx context.Context, client *http.Client, base string, rq request) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+rq.path, bytes.NewReader(rq.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("posting %s: %w", rq.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return fmt.Errorf("posting %s: status %d", rq.path, resp.StatusCode)
		}
	}
}

// enrich runs the enricher until its group's committed offsets reach the
// end of the raw topic (every submission decided, written and committed)
// after it read every ingested record.
func (r *round) enrich(ctx context.Context, records int64) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	// Consumers start consuming before they report ready: their CPU is
	// counted from the process start.
	c, _, err := r.start(ctx, "enrich", "enrich")
	if err != nil {
		return Result{}, err
	}
	defer c.stop(30 * time.Second)
	var mem enrichMemory
	var last metricSet
	err = r.drain(ctx, c, func() (bool, error) {
		m, err := c.metrics(ctx)
		if err != nil {
			return false, err
		}
		mem.sample(m)
		last = m
		if int64(m["logweave_enrich_records_in_total"]) < records {
			return false, nil
		}
		lag, err := ops.Lag(ctx, r.adm, enrich.Group, "logweave.raw")
		return lag == 0, err
	})
	if err != nil {
		return Result{}, err
	}
	wall := time.Since(t0)
	u1, err := c.usage()
	if err != nil {
		return Result{}, err
	}
	in := int64(last["logweave_enrich_records_in_total"])
	note := fmt.Sprintf("out %d; %s", int64(last["logweave_enrich_records_out_total"]), mem.String())
	return Result{Round: r.n, Role: "enrich", Records: in, CPU: u1.cpu, Wall: wall, PeakRSS: u1.peakRSS, Note: note}, nil
}

// sink runs one sink until its group has no lag on the enriched topic.
func (r *round) sink(ctx context.Context, name string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var lk *loki
	var lokiCPU0 usage
	if name == "loki" {
		var err error
		if lk, err = startLoki(ctx, r.cfg.LokiBin, r.dir, strings.TrimPrefix(r.lokiURL, "http://")); err != nil {
			return Result{}, fmt.Errorf("starting loki: %w", err)
		}
		defer lk.stop()
		if lokiCPU0, err = lk.c.usage(); err != nil {
			return Result{}, err
		}
	}
	t0 := time.Now()
	c, _, err := r.start(ctx, "sink-"+name, "sink", "--name", name)
	if err != nil {
		return Result{}, err
	}
	defer c.stop(30 * time.Second)
	var last metricSet
	err = r.drain(ctx, c, func() (bool, error) {
		lag, err := ops.Lag(ctx, r.adm, "logweave-sink-"+name, "logweave.enriched")
		if err != nil || lag != 0 {
			return false, err
		}
		last, err = c.metrics(ctx)
		return err == nil, err
	})
	if err != nil {
		return Result{}, err
	}
	wall := time.Since(t0)
	u1, err := c.usage()
	if err != nil {
		return Result{}, err
	}
	recs := int64(last["logweave_sink_records_total"])
	note := fmt.Sprintf("dead-lettered %d", int64(last["logweave_sink_dead_lettered_total"]))
	if name == "es" && r.es != nil {
		note += fmt.Sprintf("; request bodies on the wire %.1f MiB", float64(r.es.WireBytes())/(1<<20))
	}
	if name == "file" {
		// One fsync per append: the file sink's wall time is bound by
		// them when batches are small.
		fsyncs := last["logweave_file_append_duration_seconds_count"]
		note += fmt.Sprintf("; fsyncs %.0f (%.4f per record), %.3f s in appends", fsyncs, fsyncs/float64(max(recs, 1)),
			last["logweave_file_append_duration_seconds_sum"])
	}
	if lk != nil {
		lu, err := lk.c.usage()
		if err != nil {
			return Result{}, err
		}
		note += fmt.Sprintf("; entries pushed %d (spans are skipped by the default routes), pushes %d; Loki itself %.2f CPU-s (not counted)",
			int64(last["logweave_loki_entries_total"]), int64(last["logweave_loki_pushes_total"]), (lu.cpu - lokiCPU0.cpu).Seconds())
	}
	return Result{Round: r.n, Role: "sink " + name, Records: recs, CPU: u1.cpu, Wall: wall, PeakRSS: u1.peakRSS, Note: note}, nil
}

// drain polls done every 250ms until it reports true, the child exits or
// ctx ends.
func (r *round) drain(ctx context.Context, c *child, done func() (bool, error)) error {
	for {
		if err := c.exited(); err != nil {
			return err
		}
		ok, err := done()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("waiting for %s to drain: %w", c.name, ctx.Err()), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// enrichMemory follows the enricher's Go heap against what it says it
// holds (logweave_enrich_pending_bytes).
type enrichMemory struct {
	peakHeap, peakPending, heapAtPeakPending float64
	maxExcess                                float64 // heap - 2*pending
	samples                                  int
	over                                     int // samples with heap > 2*pending + 32 MiB
}

func (e *enrichMemory) sample(m metricSet) {
	heap, pending := m["go_memstats_heap_inuse_bytes"], m["logweave_enrich_pending_bytes"]
	e.samples++
	e.peakHeap = max(e.peakHeap, heap)
	if pending >= e.peakPending {
		e.peakPending, e.heapAtPeakPending = pending, heap
	}
	if ex := heap - 2*pending; e.samples == 1 || ex > e.maxExcess {
		e.maxExcess = ex
	}
	if heap > 2*pending+32<<20 {
		e.over++
	}
}

func (e *enrichMemory) String() string {
	const mib = 1 << 20
	return fmt.Sprintf("heap peak %.0f MiB, pending_bytes peak %.0f MiB (heap then %.0f MiB), max heap-2*pending %.0f MiB (%d samples, %d over 2*pending+32 MiB)",
		e.peakHeap/mib, e.peakPending/mib, e.heapAtPeakPending/mib, e.maxExcess/mib, e.samples, e.over)
}

// keepAllRules are the default tail rules with every level head-sampled
// at rate 1.
const keepAllRules = `tail:
  - name: error
    when: 'level >= error or span.status == "error"'
head:
  levels: {fatal: 1, error: 1, warn: 1, info: 1, debug: 1, trace: 1}
completion: 'stage == "feedback"'
`

func without(list []string, s string) []string {
	var out []string
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
