package replay

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
	"github.com/logweave/logweave/testkit/audit"
	"github.com/logweave/logweave/testkit/esfake"
	"github.com/logweave/logweave/testkit/testkafka"
)

// TestReplayRaw_ReEnrichesWithCurrentRules sends a workload to the raw
// topic, then replays the raw window with rules that keep everything: the
// destination gets every record of the manifest, enriched, once.
func TestReplayRaw_ReEnrichesWithCurrentRules(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(3, "logweave.raw", "logweave.enriched", "logweave.dlq"))
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
	icfg := ingest.Default()
	isrv, err := ingest.New(icfg, "logweave.raw", c.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(isrv.Handler())
	defer hs.Close()
	from := time.Now().Add(-time.Second)
	var manifest bytes.Buffer
	if _, err := gen.Run(context.Background(), gen.Config{URL: hs.URL, Logs: "otlp", Rate: 300, Count: 30, Seed: 3, Users: 5,
		Rates: gen.Rates{Error: 0.1}, Manifest: &manifest}); err != nil {
		t.Fatal(err)
	}
	entries, _ := gen.ReadManifest(&manifest)

	keepAll, err := enrich.ParseRules([]byte("head:\n  levels: {trace: 1, debug: 1, info: 1, warn: 1, error: 1, fatal: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv := esfake.New()
	defer srv.Close()
	rep, err := RunRaw(context.Background(), rawOptions(t, srv, base, "rules-v2", from, keepAll))
	if err != nil {
		t.Fatal(err)
	}
	want := audit.Expected(entries, keepAll)
	docs := srv.Docs("backfill")
	if len(docs) != audit.Total(want) {
		t.Errorf("%d documents, want every record of the window (%d): %s", len(docs), audit.Total(want), rep)
	}
	// The live enriched topic and its sinks were not involved.
	if n := len(srv.Docs("logweave-log-" + time.Now().UTC().Format("2006.01.02"))); n != 0 {
		t.Errorf("%d documents in the live index", n)
	}
}
