package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/logweave/logweave/gen"
)

func runGen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      gen.Config
		manifest string
		start    string
		seed     uint64
	)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:4318", "ingest base URL")
	fs.StringVar(&cfg.Logs, "logs", "otlp", "how logs are sent: otlp (OpenTelemetry SDK exporter) or ndjson; spans always use the OTLP trace exporter")
	fs.StringVar(&cfg.Protocol, "protocol", "http", "OTLP protocol of the SDK exporters: http (to --url) or grpc (to --grpc-url)")
	fs.StringVar(&cfg.GRPCURL, "grpc-url", "http://127.0.0.1:4317", "ingest OTLP/gRPC endpoint, used with --protocol grpc")
	fs.BoolVar(&cfg.TraceContextLogs, "trace-context-logs", false, "logs carry only the trace context of their span, no submission attributes, as OpenTelemetry log bridges send them")
	fs.BoolVar(&cfg.DefaultBatching, "default-batching", false, "each service exports with the SDK's default batch processors (spans every 5s, logs every 1s) instead of fast 200ms ones")
	fs.DurationVar(&cfg.PhaseOffset, "phase-offset", 0, "start the root service's (gateway) exporters this long after the other services', so flushes arrive out of phase (e.g. 2.5s)")
	fs.Float64Var(&cfg.Rate, "rate", 10, "submissions per second")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many submissions (0: no limit; set --count or --duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0: no limit)")
	fs.Uint64Var(&seed, "seed", 1, "random seed; the same seed plans the same workload")
	fs.IntVar(&cfg.Users, "users", 1000, "distinct users")
	fs.Float64Var(&cfg.Rates.Error, "error-rate", 0.05, "share of submissions with an error in one stage")
	fs.Float64Var(&cfg.Rates.Timeout, "timeout-rate", 0.03, "share of submissions whose judge span runs far over --judge-threshold")
	fs.Float64Var(&cfg.Rates.Slow, "slow-rate", 0.05, "share of submissions whose judge span runs slow but under the threshold")
	fs.Float64Var(&cfg.Rates.Crash, "crash-rate", 0.02, "share of submissions with a crash marker (panic, OOMKilled, CrashLoopBackOff)")
	fs.DurationVar(&cfg.JudgeThreshold, "judge-threshold", 10*time.Second, "judge latency threshold of the enricher's rules")
	fs.StringVar(&cfg.Token, "token", os.Getenv("LOGWEAVE_INGEST_TOKEN"), "bearer token for ingest (default $LOGWEAVE_INGEST_TOKEN)")
	fs.StringVar(&manifest, "manifest", "", "write the manifest (JSON lines, one per submission) to this file")
	fs.StringVar(&start, "start", "", "RFC 3339 end time of the first submission, for reproducible timestamps (default: now)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave gen [flags]\n\nSends an online-judge workload (submissions as traces with logs) to logweave ingest.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	cfg.Seed = seed
	if cfg.Count == 0 && cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if start != "" {
		t, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			fmt.Fprintf(stderr, "logweave gen: --start: %v\n", err)
			return 2
		}
		cfg.Start = t
	}
	if manifest != "" {
		f, err := os.Create(manifest)
		if err != nil {
			fmt.Fprintf(stderr, "logweave gen: %v\n", err)
			return 1
		}
		defer f.Close()
		cfg.Manifest = f
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "logweave gen: invalid flags:\n%s\n", indent(err.Error()))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := gen.Run(ctx, cfg)
	fmt.Fprintln(stdout, rep)
	if err != nil {
		fmt.Fprintf(stderr, "logweave gen: %v\n", err)
		return 1
	}
	return 0
}
