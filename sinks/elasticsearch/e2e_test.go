package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/internal/audit"
	"github.com/logweave/logweave/internal/esfake"
	"github.com/logweave/logweave/internal/gen"
	"github.com/logweave/logweave/internal/testkafka"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
)

// TestEndToEnd_GenToElasticsearch: gen -> ingest -> enrich -> ES sink on
// kfake; the fake Elasticsearch holds exactly the kept records of the
// manifest, one document each.
func TestEndToEnd_GenToElasticsearch(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw", "logweave.enriched", "logweave.dlq"))
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rules, _ := enrich.CompileRules(enrich.DefaultRules())
	ecfg := enrich.DefaultConfig()
	ecfg.FlushInterval = 100 * time.Millisecond
	ecfg.TransactionalID = "e2e-enrich"
	en, err := enrich.New(ecfg, enrich.Topics{Raw: "logweave.raw", Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, rules, base,
		enrich.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	enDone := make(chan error, 1)
	go func() { enDone <- en.Run(ctx) }()

	srv := esfake.New()
	defer srv.Close()
	scfg := elasticsearch.Default()
	scfg.URLs = []string{srv.URL}
	reg := prometheus.NewRegistry()
	dest, err := elasticsearch.New(ctx, scfg, reg, "es")
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := router.New(router.Default())
	rcfg := sinks.DefaultConfig("es")
	rcfg.Batch.Linger = 20 * time.Millisecond
	runner, err := sinks.New(rcfg, dest, rt, sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, base, time.Second, sinks.Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- runner.Run(ctx) }()

	icfg := ingest.Default()
	isrv, err := ingest.New(icfg, "logweave.raw", c.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(isrv.Handler())
	defer hs.Close()
	var manifest bytes.Buffer
	if _, err := gen.Run(ctx, gen.Config{URL: hs.URL, Logs: "otlp", Rate: 200, Count: 120, Seed: 5, Users: 10,
		Rates: gen.Rates{Error: 0.1, Timeout: 0.05, Slow: 0.1, Crash: 0.05}, Manifest: &manifest}); err != nil {
		t.Fatal(err)
	}
	entries, _ := gen.ReadManifest(&manifest)
	want := audit.Expected(entries, rules)
	total := audit.Total(want)

	count := func() (map[string]int, int) {
		per, n := map[string]int{}, 0
		for _, docs := range srv.AllDocs() {
			for _, d := range docs {
				var doc struct {
					SubmitID string `json:"submit_id"`
				}
				json.Unmarshal(d, &doc)
				per[doc.SubmitID]++
				n++
			}
		}
		return per, n
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		_, n := count()
		if n >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // anything extra would show now
	per, n := count()
	if n != total {
		t.Errorf("%d documents, want %d", n, total)
	}
	for sub, w := range want {
		if per[sub] != w {
			t.Errorf("submission %s: %d documents, want %d", sub, per[sub], w)
		}
	}
	for idx := range srv.AllDocs() {
		if idx != "logweave-log-"+time.Now().UTC().Format("2006.01.02") && idx != "logweave-span-"+time.Now().UTC().Format("2006.01.02") {
			t.Logf("index %s (event dates may straddle midnight)", idx)
		}
	}
	cancel()
	if err := <-enDone; err != nil {
		t.Errorf("enrich: %v", err)
	}
	if err := <-sinkDone; err != nil {
		t.Errorf("sink: %v", err)
	}
}
