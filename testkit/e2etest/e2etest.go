// Package e2etest runs the pipeline for end-to-end tests: gen through a
// real ingest server into kfake, the enricher, and one sink runner with the
// destination under test.
package e2etest

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/gen"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/testkit/testkafka"
)

// Pipeline is a running pipeline.
type Pipeline struct {
	Rules    *enrich.Rules
	Manifest []gen.ManifestEntry
	cancel   context.CancelFunc
	done     []chan error
}

// Run starts enrich and a runner for sink named name writing to dest (its
// metrics on reg), then sends count submissions of seed through gen and
// ingest. Stop ends the stages and reports their errors.
func Run(t *testing.T, name string, dest sinks.Sink, reg prometheus.Registerer, seed uint64, count int) *Pipeline {
	t.Helper()
	c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw", "logweave.enriched", "logweave.dlq"))
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{cancel: cancel}
	t.Cleanup(func() { p.Stop(t) })

	p.Rules, _ = enrich.CompileRules(enrich.DefaultRules())
	ecfg := enrich.DefaultConfig()
	ecfg.FlushInterval = 100 * time.Millisecond
	ecfg.TransactionalID = "e2e-enrich-" + name
	en, err := enrich.New(ecfg, enrich.Topics{Raw: "logweave.raw", Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, p.Rules, base,
		enrich.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := router.New(router.Default())
	rcfg := sinks.DefaultConfig(name)
	rcfg.Batch.Linger = 20 * time.Millisecond
	runner, err := sinks.New(rcfg, dest, rt, sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, base, time.Second, sinks.Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []func(context.Context) error{en.Run, runner.Run} {
		done := make(chan error, 1)
		p.done = append(p.done, done)
		go func(run func(context.Context) error) { done <- run(ctx) }(run)
	}

	icfg := ingest.Default()
	isrv, err := ingest.New(icfg, "logweave.raw", c.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(isrv.Handler())
	defer hs.Close()
	var manifest bytes.Buffer
	if _, err := gen.Run(ctx, gen.Config{URL: hs.URL, Logs: "otlp", Rate: 200, Count: count, Seed: seed, Users: 10,
		Rates: gen.Rates{Error: 0.1, Timeout: 0.05, Slow: 0.1, Crash: 0.05}, Manifest: &manifest}); err != nil {
		t.Fatal(err)
	}
	p.Manifest, _ = gen.ReadManifest(&manifest)
	return p
}

// Stop stops the stages and reports their errors.
func (p *Pipeline) Stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	for _, d := range p.done {
		if err := <-d; err != nil {
			t.Errorf("pipeline stage: %v", err)
		}
	}
}

// WaitFor polls count until it reaches want or timeout passes, then waits
// a second more so that extra records would show, and returns the count.
func WaitFor(want int, timeout time.Duration, count func() int) int {
	deadline := time.Now().Add(timeout)
	for count() < want && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	return count()
}
