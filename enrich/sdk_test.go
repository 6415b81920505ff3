package enrich

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logweave/logweave/gen"
	"github.com/logweave/logweave/ingest"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// The stock OpenTelemetry Go SDK exporters at their defaults, as a user
// runs them: every service with its own tracer and logger providers and the
// SDK's default batch processors (spans every 5 s), the root service's
// timers 2.5 s out of phase with the others', and logs written through the
// SDK logger inside spans with only the trace context (no submission
// attributes), over OTLP/HTTP and OTLP/gRPC. With the enricher's defaults
// every failed submission is kept whole, every log is joined to its span,
// and the enriched topic holds each record once.
func TestEnricher_StockSDKDefaultsOutOfPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the SDK's default batch timers")
	}
	for _, protocol := range []string{"http", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t)
			cfg := DefaultConfig()
			cfg.FlushInterval = 100 * time.Millisecond
			cfg.TransactionTimeout = 10 * time.Second
			en := v.startEnricher(cfg)

			icfg := ingest.Default()
			srv, err := ingest.New(icfg, rawTopic, v.cluster.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gctx, stopGRPC := context.WithCancel(context.Background())
			grpcDone := make(chan error, 1)
			go func() { grpcDone <- srv.ServeGRPC(gctx, ln, 5*time.Second) }()
			defer func() { stopGRPC(); <-grpcDone }()

			var manifest bytes.Buffer
			rep, err := gen.Run(context.Background(), gen.Config{URL: hs.URL, GRPCURL: "http://" + ln.Addr().String(), Protocol: protocol,
				Logs: "otlp", TraceContextLogs: true, DefaultBatching: true, PhaseOffset: 2500 * time.Millisecond,
				Rate: 10, Count: 30, Seed: 12, Users: 10,
				Rates: gen.Rates{Error: 0.2, Timeout: 0.1, Slow: 0.1, Crash: 0.1}, Manifest: &manifest})
			if err != nil {
				t.Fatalf("gen: %v (%s)", err, rep)
			}
			entries, err := gen.ReadManifest(&manifest)
			if err != nil {
				t.Fatal(err)
			}
			want := expected(t, entries)
			failed := 0
			for _, e := range entries {
				if e.Truth.Error || e.Truth.Timeout || e.Truth.Crash != "" {
					failed++
				}
			}
			if failed == 0 {
				t.Fatal("the workload has no failed submission: the test would prove nothing")
			}
			got := v.readEnriched(total(want), 90*time.Second)
			checkExactlyOnce(t, got, want)
			unjoined := 0
			for _, r := range got {
				if r.GetRecord().GetLog() != nil && r.GetSpan().GetJoin() != v1.JoinStatus_JOIN_STATUS_JOINED {
					unjoined++
					if unjoined <= 3 {
						t.Errorf("log %s of %s not joined: %v", r.GetRecordId(), r.GetSubmission().GetSubmitId(), r.GetSpan())
					}
				}
				if r.GetSubmission().GetUserId() == "" {
					t.Errorf("%s has no user: %v", r.GetRecordId(), r.GetSubmission())
				}
			}
			if n := testutil.ToFloat64(en.e.m.links.WithLabelValues("moved")); n == 0 {
				t.Error("no context-only record was moved: the workload did not exercise trace links")
			}
			t.Logf("%s: %d submissions (%d failed), %d records kept, %d logs not joined", protocol, len(entries), failed, len(got), unjoined)
		})
	}
}
