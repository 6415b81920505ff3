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
	cfg := gen.DefaultConfig()
	var manifest, start string
	registerGenFlags(fs, &cfg)
	fs.StringVar(&manifest, "manifest", "", "write the manifest (JSON lines, one per submission) to this file")
	fs.StringVar(&start, "start", "", "RFC 3339 end time of the first submission, for reproducible timestamps (default: now)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave gen [flags]\n\nSends an online-judge workload (submissions as traces with logs) to logweave ingest.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
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

// registerGenFlags binds the generator's flags to cfg; each flag's default
// is cfg's value (gen.DefaultConfig), the token's $LOGWEAVE_INGEST_TOKEN.
func registerGenFlags(fs *flag.FlagSet, cfg *gen.Config) {
	fs.StringVar(&cfg.URL, "url", cfg.URL, "ingest base URL")
	fs.StringVar(&cfg.Logs, "logs", cfg.Logs, "how logs are sent: otlp (OpenTelemetry SDK exporter) or ndjson; spans always use the OTLP trace exporter")
	fs.StringVar(&cfg.Protocol, "protocol", cfg.Protocol, "OTLP protocol of the SDK exporters: http (to --url) or grpc (to --grpc-url)")
	fs.StringVar(&cfg.GRPCURL, "grpc-url", cfg.GRPCURL, "ingest OTLP/gRPC endpoint, used with --protocol grpc")
	fs.BoolVar(&cfg.TraceContextLogs, "trace-context-logs", cfg.TraceContextLogs, "logs carry only the trace context of their span, no submission attributes, as OpenTelemetry log bridges send them")
	fs.BoolVar(&cfg.DefaultBatching, "default-batching", cfg.DefaultBatching, "each service exports with the SDK's default batch processors (spans every 5s, logs every 1s) instead of fast 200ms ones")
	fs.DurationVar(&cfg.PhaseOffset, "phase-offset", cfg.PhaseOffset, "start the root service's (gateway) exporters this long after the other services', so flushes arrive out of phase (e.g. 2.5s)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "submissions per second")
	fs.IntVar(&cfg.Count, "count", cfg.Count, "stop after this many submissions (0: no limit; set --count or --duration)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop after this long (0: no limit)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed plans the same workload")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "distinct users")
	fs.Float64Var(&cfg.Rates.Error, "error-rate", cfg.Rates.Error, "share of submissions with an error in one stage")
	fs.Float64Var(&cfg.Rates.Timeout, "timeout-rate", cfg.Rates.Timeout, "share of submissions whose judge span runs far over --judge-threshold")
	fs.Float64Var(&cfg.Rates.Slow, "slow-rate", cfg.Rates.Slow, "share of submissions whose judge span runs slow but under the threshold")
	fs.Float64Var(&cfg.Rates.Crash, "crash-rate", cfg.Rates.Crash, "share of submissions with a crash marker (panic, OOMKilled, CrashLoopBackOff)")
	fs.DurationVar(&cfg.JudgeThreshold, "judge-threshold", cfg.JudgeThreshold, "judge latency threshold of the enricher's rules")
	fs.StringVar(&cfg.Token, "token", os.Getenv("LOGWEAVE_INGEST_TOKEN"), "bearer token for ingest (default $LOGWEAVE_INGEST_TOKEN)")
}
