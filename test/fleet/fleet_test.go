//go:build chaos

package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/gen"
	"github.com/logweave/logweave/testkit/audit"
	"github.com/logweave/logweave/testkit/lokitest"
)

// options are the knobs of one fleet run; env overrides them (see
// optionsFromEnv) so `make soak` can run longer.
type options struct {
	seed      uint64
	duration  time.Duration // how long gen sends
	calm      time.Duration // fault-free start, for the latency figures
	rate      float64       // submissions per second
	faults    bool
	killEvery time.Duration
	tags      string   // build tags of the logweave binary
	sinkEnv   []string // environment of the sink members
	out       string   // where the report and logs go
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func optionsFromEnv(t *testing.T) options {
	o := options{seed: 1, duration: 90 * time.Second, calm: 25 * time.Second, rate: 4, faults: true, killEvery: 7 * time.Second}
	if v, err := strconv.ParseUint(os.Getenv("LOGWEAVE_CHAOS_SEED"), 10, 64); err == nil {
		o.seed = v
	}
	o.duration = envDuration("LOGWEAVE_CHAOS_DURATION", o.duration)
	o.calm = envDuration("LOGWEAVE_CHAOS_CALM", o.calm)
	o.killEvery = envDuration("LOGWEAVE_CHAOS_KILL_EVERY", o.killEvery)
	if v, err := strconv.ParseFloat(os.Getenv("LOGWEAVE_CHAOS_RATE"), 64); err == nil && v > 0 {
		o.rate = v
	}
	if os.Getenv("LOGWEAVE_CHAOS_FAULTS") == "0" {
		o.faults = false // a capacity run: load only, no kills, no destination faults
	}
	o.out = os.Getenv("LOGWEAVE_CHAOS_OUT")
	if o.out == "" {
		o.out = t.TempDir()
	}
	return o
}

// TestChaos_Fleet runs the whole fleet under faults and fails on any lost
// record, any visible duplicate, unexpected records, or a group that did
// not drain.
func TestChaos_Fleet(t *testing.T) {
	o := optionsFromEnv(t)
	r := runFleet(t, o)
	if len(r.Failures) > 0 {
		t.Errorf("chaos audit failed (report and logs in %s):\n  %s", o.out, strings.Join(r.Failures, "\n  "))
	}
}

// TestChaos_BrokenSinkIsCaught proves the audit can fail: the sink members
// run a binary built with the chaos tag and LOGWEAVE_TEST_FAULT set, which
// acknowledges about one record in 50 without writing it; every sink
// destination must then be reported with lost records.
func TestChaos_BrokenSinkIsCaught(t *testing.T) {
	o := optionsFromEnv(t)
	o.out = filepath.Join(o.out, "broken")
	os.MkdirAll(o.out, 0o755)
	o.duration, o.calm, o.faults = 20*time.Second, 25*time.Second, false
	o.tags = "chaos"
	o.sinkEnv = []string{"LOGWEAVE_TEST_FAULT=ack-without-write"}
	r := runFleet(t, o)
	for _, d := range r.Destinations {
		switch d.Name {
		case "enriched-topic":
			if d.Lost != 0 {
				t.Errorf("the enriched topic lost %d records, though only the sinks were broken", d.Lost)
			}
		default:
			if d.Lost == 0 {
				t.Errorf("%s: the broken sink lost nothing the audit saw; the harness cannot fail", d.Name)
			}
		}
	}
	if len(r.Failures) == 0 {
		t.Error("the audit passed a sink that acknowledges records without writing them")
	}
}

// fleet is one running fleet.
type fleet struct {
	t      *testing.T
	o      options
	dir    string
	bin    string
	config string
	broker *proc
	ingest []*proc
	enrich []*proc
	sinks  map[string][]*proc // by sink name
	loki   *lokitest.Loki
	esfake *proc
	gen    *proc

	esProxy, lokiProxy *faultProxy
	front              *ingestFront
	seen               map[string]*firstSeen

	mu    sync.Mutex
	stops map[string][]string
	errs  []string
	exits []string // processes that exited without being told to
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func build(t *testing.T, dir, tags, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

func (f *fleet) newProc(name string, admin bool, env []string, args ...string) *proc {
	p := &proc{name: name, bin: f.bin, args: args, env: env, dir: f.dir}
	if admin {
		p.admin = freePort(f.t)
		p.args = append(p.args, "--admin", p.admin)
		p.metrics = newLifetimeCounters()
	}
	f.t.Cleanup(func() { p.stop(syscall.SIGKILL, 5*time.Second) })
	return p
}

func (f *fleet) fail(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// restart stops p with sig and starts it again; it runs in fault
// goroutines, so it reports problems instead of failing the test there.
func (f *fleet) restart(p *proc, sig syscall.Signal, down time.Duration) {
	took := p.stop(sig, 20*time.Second)
	if sig == syscall.SIGTERM {
		f.mu.Lock()
		f.stops[p.name] = append(f.stops[p.name], took.Round(10*time.Millisecond).String())
		f.mu.Unlock()
	}
	time.Sleep(down) // the process stays down this long, as after a crash
	if err := f.ensure(p); err != nil {
		f.fail("restarting %s: %v", p.name, err)
	}
}

func (f *fleet) configFile(brokerAddr, esURL, lokiURL string) string {
	cfg := fmt.Sprintf(`log: {level: info, format: json}
admin: {listen: ""}
shutdown_timeout: 20s
kafka:
  brokers: [%s]
  topics:
    raw: {partitions: 6}
    enriched: {partitions: 6}
sinks:
  - name: file
    type: file
    file: {dir: %s}
  - name: es
    type: elasticsearch
    elasticsearch: {urls: [%s], request_timeout: 3s}
  - name: loki
    type: loki
    loki: {url: %s, request_timeout: 3s}
`, brokerAddr, filepath.Join(f.dir, "files"), esURL, lokiURL)
	path := filepath.Join(f.dir, "logweave.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func runFleet(t *testing.T, o options) *report {
	began := time.Now()
	f := &fleet{t: t, o: o, dir: o.out, sinks: map[string][]*proc{}, stops: map[string][]string{},
		seen: map[string]*firstSeen{"file": newFirstSeen(), "es": newFirstSeen(), "loki": newFirstSeen()}}
	os.MkdirAll(f.dir, 0o755)
	bins := t.TempDir()
	f.bin = build(t, bins, o.tags, "./cmd/logweave", "logweave")
	esfakeBin := build(t, bins, "", "./test/fleet/esfake", "esfake")

	// Destinations: a real Loki, the fake Elasticsearch as its own process,
	// each behind a fault proxy.
	f.loki = lokitest.Start(t)
	es := &proc{name: "esfake", bin: esfakeBin, dir: f.dir}
	f.esfake = es
	t.Cleanup(func() { es.stop(syscall.SIGKILL, 5*time.Second) })
	es.start(t)
	esURL := waitLogLine(t, es, "http://")
	const hold = 5 * time.Second // past the sinks' 3s request timeout
	f.esProxy = newFaultProxy(t, "es", esURL, o.seed, hold, true, f.seen["es"])
	f.lokiProxy = newFaultProxy(t, "loki", f.loki.URL, o.seed+7, hold, false, f.seen["loki"])

	brokerAddr := freePort(t)
	f.config = f.configFile(brokerAddr, f.esProxy.URL(), f.lokiProxy.URL())
	c := []string{"-c", f.config}
	_, port, _ := strings.Cut(brokerAddr, ":")
	f.broker = f.newProc("broker", true, nil, append([]string{"broker", "--port", port, "--data-dir", filepath.Join(f.dir, "kafka")}, c...)...)
	f.broker.start(t)
	f.broker.waitReady(t, 30*time.Second)

	var ingestAddrs []string
	for i := 1; i <= 2; i++ {
		addr := freePort(t)
		ingestAddrs = append(ingestAddrs, addr)
		// Each ingest gets its own OTLP/gRPC port too (default 4317).
		env := []string{"LOGWEAVE_INGEST_LISTEN=" + addr, "LOGWEAVE_INGEST_GRPC_LISTEN=" + freePort(t)}
		f.ingest = append(f.ingest, f.newProc(fmt.Sprintf("ingest-%d", i), true, env, append([]string{"ingest"}, c...)...))
	}
	for i := 1; i <= 3; i++ {
		f.enrich = append(f.enrich, f.newProc(fmt.Sprintf("enrich-%d", i), true, nil, append([]string{"enrich"}, c...)...))
	}
	for _, name := range []string{"file", "es", "loki"} {
		for i := 1; i <= 2; i++ {
			f.sinks[name] = append(f.sinks[name], f.newProc(fmt.Sprintf("sink-%s-%d", name, i), true, o.sinkEnv, append([]string{"sink", "--name", name}, c...)...))
		}
	}
	all := f.all()
	for _, p := range all[1:] {
		p.start(t)
	}
	for _, p := range all[1:] {
		p.waitReady(t, 60*time.Second)
	}
	f.front = newIngestFront(t, ingestAddrs)

	// Observers: file tails and sink metrics, until the audit.
	obsCtx, stopObs := context.WithCancel(context.Background())
	var obsWG sync.WaitGroup
	defer func() { stopObs(); obsWG.Wait() }()
	tailer := &fileTailer{dir: filepath.Join(f.dir, "files"), seen: f.seen["file"], pos: map[string]int64{}, rest: map[string][]byte{}}
	iso := &isoSampler{}
	var load *loadSampler // set when the workload starts
	var loadMu sync.Mutex
	restarted := map[string]time.Time{}
	obsWG.Add(1)
	go func() {
		defer obsWG.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-obsCtx.Done():
				return
			case <-tick.C:
			}
			tailer.poll()
			for _, p := range all {
				// A supervisor's back-off: at most one restart a second.
				if p.exitedByItself() && time.Since(restarted[p.name]) > 2*time.Second {
					restarted[p.name] = time.Now()
					if err := f.ensure(p); err != nil {
						f.fail("restarting %s: %v", p.name, err)
					}
				}
			}
			if n%4 == 0 {
				f.scrapeSinks()
				iso.sample(f)
				loadMu.Lock()
				ls := load
				loadMu.Unlock()
				if ls != nil {
					ls.sample(f)
				}
			}
		}
	}()

	// The workload.
	manifest := filepath.Join(f.dir, "manifest.jsonl")
	genProc := &proc{name: "gen", bin: f.bin, dir: f.dir, args: []string{"gen", "--url", f.front.URL(),
		"--rate", strconv.FormatFloat(o.rate, 'f', -1, 64), "--duration", o.duration.String(),
		"--seed", strconv.FormatUint(o.seed, 10), "--manifest", manifest}}
	t.Cleanup(func() { genProc.stop(syscall.SIGKILL, 5*time.Second) })
	f.gen = genProc
	genStart := time.Now()
	loadMu.Lock()
	load = newLoadSampler(f, genStart)
	loadMu.Unlock()
	genProc.start(t)
	malformed := &statusCounts{m: map[int]int64{}}
	faultCtx, stopFaults := context.WithCancel(context.Background())
	var faultWG sync.WaitGroup
	faultWG.Add(1)
	go func() { defer faultWG.Done(); sendMalformed(faultCtx, f.front.URL(), malformed) }()
	if o.faults {
		faultWG.Add(1)
		go func() { defer faultWG.Done(); f.killLoop(faultCtx, genStart) }()
		f.timeline(genStart, iso)
	}
	select {
	case <-genProc.done:
	case <-time.After(o.duration + 3*time.Minute):
		t.Errorf("gen did not finish within %s", o.duration+3*time.Minute)
	}
	genEnd := time.Now()
	load.stop()
	stopFaults()
	faultWG.Wait()
	f.esProxy.mode.Store(modeNone)
	f.lokiProxy.mode.Store(modeNone)
	if code := genProc.cmd.ProcessState; code != nil && !code.Success() {
		f.fail("gen could not deliver its workload (%v); log:\n%s", code, genProc.tail(10))
	}
	// Every process up again, then wait for the pipeline to drain.
	for _, p := range all {
		if err := f.ensure(p); err != nil {
			f.fail("restarting %s after the faults: %v", p.name, err)
		}
	}
	lag, drained := f.drain(3 * time.Minute)
	cpuEnd := f.cpuByRole()
	f.scrapeSinks()

	// The audit.
	// Latency counts records ingested in the calm start, early enough that
	// their decision (completion + grace) comes before the first fault;
	// without faults, the whole workload but its last seconds.
	calmEnd := genStart.Add(o.calm - 12*time.Second)
	if !o.faults {
		calmEnd = genStart.Add(o.duration - 12*time.Second)
	}
	r := f.audit(manifest, lag, genStart, calmEnd, began)
	r.Load = load.result(f, genEnd, drained, cpuEnd, genProc, r.Submissions, r.raw)
	r.Malformed = malformed.snapshot()
	r.Isolation = iso.result()
	// Graceful stop of everything, timed.
	for _, p := range all {
		if p.running() {
			took := p.stop(syscall.SIGTERM, 30*time.Second)
			f.stops[p.name] = append(f.stops[p.name], "final "+took.Round(10*time.Millisecond).String())
		}
	}
	r.Stops = f.stops
	f.mu.Lock()
	r.Exits = f.exits
	f.mu.Unlock()
	r.print(os.Stdout)
	if err := r.writeJSON(filepath.Join(f.dir, "chaos-report.json")); err != nil {
		t.Error(err)
	}
	t.Logf("report: %s", filepath.Join(f.dir, "chaos-report.json"))
	return r
}

func (f *fleet) all() []*proc {
	out := []*proc{f.broker}
	out = append(out, f.ingest...)
	out = append(out, f.enrich...)
	for _, n := range []string{"file", "es", "loki"} {
		out = append(out, f.sinks[n]...)
	}
	return out
}

// ensure starts p unless it runs, without a testing.T (for goroutines);
// exits it did not ask for are noted in f.exits.
func (f *fleet) ensure(p *proc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	p.ensureRunning(panicT{}, &f.exits, &f.mu)
	return nil
}

// waitLogLine waits for a line of p's log starting with prefix.
func waitLogLine(t *testing.T, p *proc, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(p.dir, p.name+".log"))
		// Only this run's lines: a reused output directory holds the logs
		// of earlier runs too.
		if i := bytes.LastIndex(b, []byte("==== start ")); i >= 0 {
			b = b[i:]
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(line)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s printed no %q line; log:\n%s", p.name, prefix, p.tail(20))
	return ""
}

func (f *fleet) scrapeSinks() {
	for _, ps := range f.sinks {
		for _, p := range ps {
			p.scrape("logweave_sink_", "logweave_es_items_total", "logweave_loki_repushed_entries_total")
		}
	}
}

// killLoop kills a random enricher or sink member every killEvery, with
// SIGKILL mostly and SIGTERM sometimes, and starts it again.
func (f *fleet) killLoop(ctx context.Context, genStart time.Time) {
	rng := rand.New(rand.NewPCG(f.o.seed, 99))
	var victims []*proc
	victims = append(victims, f.enrich...)
	for _, n := range []string{"file", "es", "loki"} {
		victims = append(victims, f.sinks[n]...)
	}
	select {
	case <-time.After(time.Until(genStart.Add(f.o.calm))):
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil && time.Since(genStart) < f.o.duration-5*time.Second {
		p := victims[rng.IntN(len(victims))]
		sig := syscall.SIGKILL
		if rng.IntN(4) == 0 {
			sig = syscall.SIGTERM
		}
		f.esProxy.count("kill " + sig.String()) // shown with the faults
		f.restart(p, sig, time.Duration(500+rng.IntN(1500))*time.Millisecond)
		select {
		case <-time.After(f.o.killEvery):
		case <-ctx.Done():
		}
	}
}

// timeline runs the scheduled faults, in the test goroutine (the Loki
// restart may fail the test), relative to the start of the workload.
func (f *fleet) timeline(genStart time.Time, iso *isoSampler) {
	c := f.o.calm
	at := func(d time.Duration) {
		if w := time.Until(genStart.Add(c + d)); w > 0 {
			time.Sleep(w)
		}
	}
	at(0)
	f.esProxy.mode.Store(modeFlaky)
	at(8 * time.Second)
	f.esProxy.count("ingest SIGKILL")
	go f.restart(f.ingest[0], syscall.SIGKILL, 2*time.Second)
	at(15 * time.Second)
	f.esProxy.mode.Store(modeOutage)
	iso.begin("es")
	f.lokiProxy.mode.Store(modeFlaky)
	at(30 * time.Second)
	f.lokiProxy.mode.Store(modeNone)
	f.esProxy.count("ingest SIGTERM")
	go f.restart(f.ingest[1], syscall.SIGTERM, 2*time.Second)
	at(40 * time.Second)
	iso.end()
	f.esProxy.mode.Store(modeFlaky)
	f.esProxy.count("loki restart")
	f.loki.Restart()
	at(52 * time.Second)
	f.esProxy.mode.Store(modeNone)
	f.esProxy.count("broker SIGTERM+restart")
	f.restart(f.broker, syscall.SIGTERM, time.Second)
}

// drain waits until every group's lag is 0 three times in a row, a few
// seconds apart, and returns the last lags seen and when the first of
// those zeroes was read (zero time if the pipeline did not drain).
func (f *fleet) drain(within time.Duration) (map[string]int64, time.Time) {
	deadline := time.Now().Add(within)
	var last map[string]int64
	var firstZero time.Time
	zeroes := 0
	for time.Now().Before(deadline) {
		lag, err := f.status()
		if err == nil {
			last = lag
			allZero := len(lag) >= 4
			for _, v := range lag {
				if v != 0 {
					allZero = false
				}
			}
			if allZero {
				if zeroes == 0 {
					firstZero = time.Now()
				}
				zeroes++
				if zeroes >= 3 {
					return lag, firstZero
				}
			} else {
				zeroes = 0
			}
		}
		time.Sleep(3 * time.Second)
	}
	return last, time.Time{}
}

// status runs `logweave status --json` and returns every group's lag.
func (f *fleet) status() (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, f.bin, "status", "--json", "-c", f.config).Output()
	if err != nil {
		return nil, err
	}
	var groups []struct {
		Group string `json:"group"`
		Lag   int64  `json:"lag"`
	}
	if err := json.Unmarshal(out, &groups); err != nil {
		return nil, fmt.Errorf("decoding status: %w: %s", err, out)
	}
	lag := map[string]int64{}
	for _, g := range groups {
		lag[g.Group] = g.Lag
	}
	return lag, nil
}

func (f *fleet) audit(manifestPath string, lag map[string]int64, genStart, calmEnd, began time.Time) *report {
	t := f.t
	mf, err := os.Open(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := gen.ReadManifest(mf)
	mf.Close()
	if err != nil {
		t.Fatalf("reading manifest: %v", err)
	}
	rules, err := enrich.CompileRules(enrich.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	for _, e := range entries {
		raw += e.Spans + e.Logs
	}
	want := audit.Expected(entries, rules)
	wantLogs := audit.ExpectedKind(entries, rules, "log")

	// Reading every destination back takes about a minute per million
	// records on a busy 2-core machine; the bound only stops a hung read.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+time.Duration(raw)*time.Minute/200_000)
	defer cancel()
	enrichedH, truth, err := readEnriched(ctx, brokerOf(f), "logweave.enriched")
	if err != nil {
		t.Fatalf("reading the enriched topic: %v", err)
	}
	fileH, err := readFiles(filepath.Join(f.dir, "files"))
	if err != nil {
		t.Fatalf("reading the file sink: %v", err)
	}
	esH, err := readES(ctx, esTarget(f))
	if err != nil {
		t.Fatalf("reading elasticsearch: %v", err)
	}
	lokiH, err := readLoki(ctx, f.loki.URL, genStart.Add(-5*time.Minute), time.Now().Add(2*time.Minute))
	if err != nil {
		t.Fatalf("reading loki: %v", err)
	}
	dlq, err := readDLQ(ctx, brokerOf(f), "logweave.dlq")
	if err != nil {
		t.Fatalf("reading the dlq: %v", err)
	}
	r := &report{Seed: f.o.seed, Duration: time.Since(began).Round(time.Second).String(), Submissions: len(entries), GroupLag: lag,
		Faults: map[string]int64{}, IngestAnswer: f.front.Statuses(), Restarts: map[string]int{}, raw: raw}
	latFrom := genStart.Add(5 * time.Second) // past the warm-up
	et := compare("enriched-topic", want, enrichedH, truth, "")
	r.Destinations = append(r.Destinations, et)
	for _, d := range []struct {
		name, sink, kind string
		want             map[string]int
		h                *holding
	}{{"file", "file", "", want, fileH}, {"elasticsearch", "es", "", want, esH}, {"loki", "loki", "log", wantLogs, lokiH}} {
		a := compare(d.name, d.want, d.h, truth, d.kind)
		a.latency(f.seen[d.sink], truth, d.kind, latFrom, calmEnd)
		// Read from logweave.dlq itself: exact, also for members killed
		// before their metrics were scraped.
		a.DLQ = dlq[d.sink]
		for _, p := range f.sinks[d.sink] {
			switch d.sink {
			case "es":
				a.Absorbed += p.metrics.total("logweave_es_items_total", `result="duplicate"`)
			case "loki":
				a.Absorbed += p.metrics.total("logweave_loki_repushed_entries_total")
			}
		}
		r.Destinations = append(r.Destinations, a)
	}
	for _, px := range []*faultProxy{f.esProxy, f.lokiProxy} {
		for k, v := range px.Faults() {
			if strings.Contains(k, " ") {
				r.Faults[k] += v
			} else {
				r.Faults[px.name+" "+k] += v
			}
		}
	}
	for _, p := range f.all() {
		r.Restarts[p.name] = p.starts
	}
	r.judge()
	f.mu.Lock()
	r.Failures = append(r.Failures, f.errs...)
	f.mu.Unlock()
	return r
}

func brokerOf(f *fleet) string {
	for i, a := range f.broker.args {
		if a == "--port" {
			return "127.0.0.1:" + f.broker.args[i+1]
		}
	}
	return ""
}

func esTarget(f *fleet) string { return f.esProxy.target.String() }

// isoSampler records the slow-sink isolation figure: the lag of every sink
// while one destination is out.
type isoSampler struct {
	mu        sync.Mutex
	outage    string
	from, to  time.Time
	maxLag    map[string]int64
	lastLag   map[string]int64
	startDone map[string]float64
	endDone   map[string]float64
}

func (s *isoSampler) begin(dest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage, s.from = dest, time.Now()
	s.maxLag = map[string]int64{}
}

func (s *isoSampler) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to = time.Now()
}

func (s *isoSampler) sample(f *fleet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outage == "" || !s.to.IsZero() && s.endDone != nil {
		return
	}
	lag := map[string]int64{}
	if st, err := f.status(); err == nil {
		for g, v := range st {
			if name, ok := strings.CutPrefix(g, "logweave-sink-"); ok {
				lag[name] = v
			}
		}
	}
	done := map[string]float64{}
	for name, ps := range f.sinks {
		for _, p := range ps {
			done[name] += p.metrics.total("logweave_sink_records_total", `outcome="delivered"`)
		}
	}
	if s.startDone == nil {
		s.startDone = done
	}
	if !s.to.IsZero() {
		s.endDone, s.lastLag = done, lag
		return
	}
	for k, v := range lag {
		s.maxLag[k] = max(s.maxLag[k], v)
	}
}

func (s *isoSampler) result() *isolation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outage == "" || s.endDone == nil {
		return nil
	}
	out := &isolation{Outage: s.outage, Lasted: s.to.Sub(s.from).Round(time.Second).String(), MaxLag: s.maxLag, LagAtOutEnd: s.lastLag,
		DeliveredDur: map[string]int64{}}
	for k, v := range s.endDone {
		out.DeliveredDur[k] = int64(v - s.startDone[k])
	}
	return out
}

// statusCounts counts answers by status.
type statusCounts struct {
	mu sync.Mutex
	m  map[int]int64
}

func (s *statusCounts) add(code int) {
	s.mu.Lock()
	s.m[code]++
	s.mu.Unlock()
}

func (s *statusCounts) snapshot() map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int64{}
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// sendMalformed sends a malformed ingest request about once per 100 of
// the generator's (which sends about 50 a second): broken protobuf, broken
// JSON, NDJSON lines that are not JSON. None may be accepted or disturb
// anything; the answers are reported (-1: no answer).
func sendMalformed(ctx context.Context, base string, counts *statusCounts) {
	bodies := []struct{ path, ctype, body string }{
		{"/v1/traces", "application/x-protobuf", "\x0a\xff\xff\xff\xff\x0f garbage"},
		{"/v1/logs", "application/json", `{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": 7`},
		{"/v1/ndjson", "application/x-ndjson", "not json at all\n{\"level\":\n"},
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	cl := http.Client{Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b := bodies[i%len(bodies)]
		resp, err := cl.Post(base+b.path, b.ctype, bytes.NewReader([]byte(b.body)))
		if err != nil {
			counts.add(-1)
			continue
		}
		resp.Body.Close()
		counts.add(resp.StatusCode)
	}
}

// panicT lets proc.start run outside the test goroutine: its failures
// panic and startErr turns them into errors.
type panicT struct{ testing.TB }

func (panicT) Helper()                           {}
func (panicT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (panicT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
