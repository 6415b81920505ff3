package loki_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/internal/audit"
	"github.com/logweave/logweave/internal/gen"
	"github.com/logweave/logweave/internal/lokitest"
	"github.com/logweave/logweave/internal/testkafka"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/loki"
)

// TestEndToEnd_GenToLoki: gen -> ingest -> enrich -> Loki sink on kfake;
// the real Loki holds exactly the kept log lines of the manifest.
func TestEndToEnd_GenToLoki(t *testing.T) {
	l := lokitest.Start(t)
	c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw", "logweave.enriched", "logweave.dlq"))
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now().Add(-time.Minute)

	rules, _ := enrich.CompileRules(enrich.DefaultRules())
	ecfg := enrich.DefaultConfig()
	ecfg.FlushInterval = 100 * time.Millisecond
	ecfg.TransactionalID = "e2e-loki-enrich"
	en, err := enrich.New(ecfg, enrich.Topics{Raw: "logweave.raw", Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, rules, base,
		enrich.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	enDone := make(chan error, 1)
	go func() { enDone <- en.Run(ctx) }()

	lcfg := loki.Default()
	lcfg.URL = l.URL
	reg := prometheus.NewRegistry()
	dest, err := loki.New(lcfg, reg, "loki")
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := router.New(router.Default())
	rcfg := sinks.DefaultConfig("loki")
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
	if _, err := gen.Run(ctx, gen.Config{URL: hs.URL, Logs: "otlp", Rate: 200, Count: 80, Seed: 8, Users: 10,
		Rates: gen.Rates{Error: 0.1, Timeout: 0.05, Slow: 0.1, Crash: 0.05}, Manifest: &manifest}); err != nil {
		t.Fatal(err)
	}
	entries, _ := gen.ReadManifest(&manifest)
	want := audit.ExpectedKind(entries, rules, "log")
	total := audit.Total(want)

	count := func() (map[string]int, int) {
		q := url.Values{"query": {`{service=~".+"}`}, "start": {strconv.FormatInt(start.UnixNano(), 10)},
			"end": {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)}, "limit": {"5000"}}
		resp, err := http.Get(l.URL + "/loki/api/v1/query_range?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var r struct {
			Data struct {
				Result []struct {
					Stream map[string]string `json:"stream"`
					Values [][]string        `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		json.Unmarshal(body, &r)
		per, n := map[string]int{}, 0
		for _, s := range r.Data.Result {
			per[s.Stream["submit_id"]] += len(s.Values)
			n += len(s.Values)
		}
		return per, n
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, n := count(); n >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(time.Second)
	per, n := count()
	if n != total {
		t.Errorf("%d log lines in Loki, want %d", n, total)
	}
	for sub, w := range want {
		if per[sub] != w {
			t.Errorf("submission %s: %d lines, want %d", sub, per[sub], w)
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
