//go:build integration

package loki

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/logweave/logweave/sinks"
)

// TestIntegration_LokiContainer pushes to the official Loki image in a
// generic container; it skips with a clear message without Docker. The
// main real-Loki tests (real_test.go) run a Loki built from its Go module
// and need no Docker.
func TestIntegration_LokiContainer(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx := context.Background()
	ctr, err := testcontainers.Run(ctx, "grafana/loki:3.7.0",
		testcontainers.WithExposedPorts("3100/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForHTTP("/ready").WithPort("3100/tcp")),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("starting loki: %v", err)
	}
	ep, err := ctr.PortEndpoint(ctx, "3100/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.URL = ep
	s, err := New(cfg, prometheus.NewRegistry(), "loki")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	batch := []*sinks.Record{liveRecord(t0, 1, "S-ctr", "from a container test")}
	res, err := s.Write(ctx, batch)
	if err != nil || res[0].Outcome != sinks.Delivered {
		t.Fatalf("push: %+v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r := queryRange(t, ep, `{service="judge"} | submit_id="S-ctr"`, t0.Add(-time.Minute), time.Now().Add(time.Minute))
		if len(r) == 1 && len(r[0].Values) == 1 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal("entry not queryable from the Loki container")
}
