package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/sinks/file"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logweave/logweave/internal/admin"
	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/testkit/goroutines"
	"github.com/logweave/logweave/testkit/testkafka"
)

// A role's reload watcher ends with the role, also when the role fails on
// its own while its context is still live: the enricher on topics whose
// partition counts differ, a sink whose configuration the runtime refuses.
func TestRoles_ReloadWatchersEndWithTheRole(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw"), kfake.SeedTopics(2, "logweave.enriched", "logweave.dlq"))
	cfg := config.Default(sinkTypes())
	cfg.Kafka.Brokers = c.Brokers()
	cfg.Enrich.RulesFile = filepath.Join("..", "..", "deploy", "rules.example.yaml")
	cfg.Router.File = filepath.Join("..", "..", "deploy", "routes.example.yaml")
	cfg.Sinks[0].Settings.(*file.Config).Dir = t.TempDir()
	cfg.Sinks[0].Batch.MaxRecords = -1 // refused by sinks.New
	p := &process{role: "test", cfg: cfg, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry(), ready: &admin.Readiness{}, stdout: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // only after the checks: the roles must end without it
	for name, run := range map[string]func() error{
		"enrich": func() error { return runEnricher(ctx, p) },
		"sink":   func() error { return runSinkRole(ctx, p, "file") },
	} {
		done := make(chan error, 1)
		go func() { done <- run() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s returned no error", name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still running after 30s", name)
		}
		if ws := goroutines.Running("internal/reload.(*Watcher).Run"); len(ws) > 0 {
			t.Errorf("%s returned, but %d reload watchers still run:\n%s", name, len(ws), strings.Join(ws, "\n\n"))
		}
	}
}
