package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/logweave/logweave/sinks/file"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/internal/admin"
	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/testkit/testkafka"
)

// The brokers see each role's name in the client id
// (deploy/logweave.example.yaml: "each role appends its name"): the enricher
// and a sink, running as the roles run them, join their groups as
// logweave-enrich and logweave-sink-<name>, and both, sharing one process
// registry as in logweave dev, record their client metrics.
func TestRoles_ClientIDSeenByBroker(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(2, "logweave.raw", "logweave.enriched"), kfake.SeedTopics(1, "logweave.dlq"))
	cfg := config.Default(sinkTypes())
	cfg.Kafka.Brokers = c.Brokers()
	cfg.Sinks[0].Settings.(*file.Config).Dir = filepath.Join(t.TempDir(), "files")
	p := &process{role: "dev", cfg: cfg, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), ready: &admin.Readiness{}, stdout: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	rt, _, err := newRouter(p)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- runEnricher(ctx, p) }()
	go func() { done <- runSinkRunner(ctx, p, cfg.Sinks[0], rt) }()
	defer func() {
		cancel()
		for i := 0; i < 2; i++ {
			if err := <-done; err != nil {
				t.Errorf("role returned %v", err)
			}
		}
	}()
	adm := c.Admin()
	want := map[string]string{enrich.Group: "logweave-enrich", cfg.Sinks[0].Group(): "logweave-sink-file"}
	deadline := time.Now().Add(30 * time.Second)
	for group, id := range want {
		for {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			described, err := adm.DescribeGroups(dctx, group)
			dcancel()
			if g := described[group]; err == nil && g.Err == nil && len(g.Members) == 1 {
				if got := g.Members[0].ClientID; got != id {
					t.Errorf("group %s: the broker sees client id %q, want %q", group, got, id)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s has no member within 30s (%v)", group, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, client := range []string{"enrich", "sink-file"} {
		if n := kafkaSeries(t, p.reg, client); n == 0 {
			t.Errorf("no logweave_kafka_* series with client=%q on the process registry", client)
		}
	}
}

// kafkaSeries counts the franz-go client metric series labelled client.
func kafkaSeries(t *testing.T, g prometheus.Gatherer, client string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client" && l.GetValue() == client {
					n++
				}
			}
		}
	}
	return n
}
