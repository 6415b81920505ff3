package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/logweave/logweave/bench"
)

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.Default()
	var sinks, ingestSettings string
	fs.IntVar(&cfg.Submissions, "submissions", cfg.Submissions, "submissions in the workload (5 spans and 4*logs-per-stage logs each)")
	fs.IntVar(&cfg.BatchSubmissions, "batch", cfg.BatchSubmissions, "submissions per OTLP request (one traces and one logs request per batch)")
	fs.IntVar(&cfg.LogsPerStage, "logs-per-stage", cfg.LogsPerStage, "logs per stage span (4 stages)")
	fs.IntVar(&cfg.Senders, "senders", cfg.Senders, "concurrent HTTP clients feeding ingest")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of logweave.raw and logweave.enriched")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "times to run the whole measurement, each on a fresh broker")
	fs.StringVar(&sinks, "sinks", "file,es", "sinks to measure: file, es (Elasticsearch against an in-process esfake), loki (against the Loki of --loki-bin); empty for none")
	fs.StringVar(&cfg.LokiBin, "loki-bin", os.Getenv("LOGWEAVE_LOKI_BIN"), "Loki binary the loki sink pushes to, started for its row (without one the loki row is skipped)")
	fs.StringVar(&cfg.RulesFile, "rules", "", "enrich rules file (default: the default rules)")
	fs.BoolVar(&cfg.KeepAll, "keep-all", false, "run enrich with every level head-sampled at rate 1, so the sinks get every record")
	fs.BoolVar(&cfg.IngestOnly, "ingest-only", false, "measure ingest only")
	fs.StringVar(&ingestSettings, "ingest-set", "", "';'-separated YAML lines for ingest's section, e.g. 'compression: lz4;linger: 10ms'")
	fs.StringVar(&cfg.Dir, "dir", "", "work directory kept after the run (default: a temporary one, removed)")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "write each process's CPU and allocation profile there")
	fs.StringVar(&cfg.Binary, "bin", "", "logweave binary to measure (default: this one)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each role's run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave bench [flags]\n\nMeasures each role as its own process on an embedded broker: ingest fed an\nonline-judge workload over OTLP/HTTP, then enrich and each sink until drained.\nPrints records, CPU-seconds, wall time, records per CPU-second and peak RSS.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	cfg.Sinks = splitComma(sinks)
	// Each setting trimmed: 'compression: lz4; linger: 10ms' would
	// otherwise indent the second line wrongly in the YAML.
	cfg.IngestSettings = splitOn(ingestSettings, ";")
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "logweave bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := bench.Run(ctx, cfg, stderr)
	bench.WriteTable(stdout, cfg, results)
	if err != nil {
		fmt.Fprintf(stderr, "logweave bench: %v\n", err)
		return 1
	}
	return 0
}
