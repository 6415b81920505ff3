package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/internal/logging"
	"github.com/logweave/logweave/replay"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
)

func runReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common                       commonFlags
		sinkName, from, to, job, idx string
		source                       string
	)
	common.register(fs)
	fs.StringVar(&sinkName, "sink", "", "the sink (from sinks:) whose destination receives the replay (required)")
	fs.StringVar(&from, "from", "", "RFC 3339 start of the window (required)")
	fs.StringVar(&to, "to", "", "RFC 3339 end of the window (default: the end of the topic when the job first starts)")
	fs.StringVar(&job, "job", "", "job name; the same name resumes an interrupted job (default: <sink>-<from>)")
	fs.StringVar(&idx, "target-index", "", "write to this index or pattern instead of the routes' (e.g. logweave-backfill-{kind}-{yyyy.MM.dd})")
	fs.StringVar(&source, "source", "enriched", "enriched: replay the enriched records; raw: enrich the raw window again with the current rules (enrich.rules_file) into a topic of the job's own, then replay that")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave replay --sink NAME --from TIME [--to TIME] [--target-index PATTERN] [--job NAME]\n\nBackfills a time window of logweave.enriched into a sink's destination with a group of its own;\nlive sinks are not disturbed. Stops by itself at the end of the window; rerun to resume.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if source != "enriched" && source != "raw" {
		fmt.Fprintf(stderr, "logweave replay: --source %q is not allowed (allowed: enriched, raw)\n", source)
		return 2
	}
	if sinkName == "" || from == "" {
		fmt.Fprintln(stderr, "logweave replay: --sink and --from are required")
		return 2
	}
	fromT, toT, err := parseWindow(from, to)
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 2
	}
	if job == "" {
		job = replay.JobName(sinkName, fromT)
	}
	cfg, ok := loadForTool("replay", &common, stderr)
	if !ok {
		return 2
	}
	sc, ok := cfg.Sink(sinkName)
	if !ok {
		fmt.Fprintf(stderr, "logweave replay: no sink %q in the configuration\n", sinkName)
		return 2
	}
	routes, err := router.Load(cfg.Router.File)
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 2
	}
	rt, err := replay.TargetRouter(routes, idx)
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 2
	}
	logger, err := logging.New(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 2
	}
	p := &process{cfg: cfg, logger: logger.With("role", "replay"), reg: prometheus.NewRegistry()}
	base, err := p.kafka().Options("replay")
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dest, err := newSink(ctx, p, sc)
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 1
	}
	opts := replay.Options{Job: job, Sink: sc.Config, Dest: dest, Router: rt, Base: base, From: fromT, To: toT,
		Topics: sinks.Topics{Enriched: cfg.Kafka.Topics.Enriched.Name, DLQ: cfg.Kafka.Topics.DLQ.Name}, Progress: os.Stderr, Registry: p.reg, Logger: p.logger}
	var rep replay.Report
	if source == "raw" {
		rules, rerr := enrich.LoadRules(cfg.Enrich.RulesFile)
		if rerr != nil {
			fmt.Fprintf(stderr, "logweave replay: %v\n", rerr)
			return 2
		}
		rep, err = replay.RunRaw(ctx, replay.RawOptions{Options: opts, RawTopic: cfg.Kafka.Topics.Raw.Name, Enrich: cfg.Enrich, Rules: rules})
	} else {
		rep, err = replay.Run(ctx, opts)
	}
	fmt.Fprintln(stdout, strings.TrimSpace(rep.String()))
	if err != nil {
		fmt.Fprintf(stderr, "logweave replay: %v\n", err)
		return 1
	}
	return 0
}

// parseWindow reads --from and --to (RFC 3339; to may be empty: zero time).
func parseWindow(from, to string) (fromT, toT time.Time, err error) {
	if fromT, err = time.Parse(time.RFC3339Nano, from); err != nil {
		return fromT, toT, fmt.Errorf("--from: %w", err)
	}
	if to != "" {
		if toT, err = time.Parse(time.RFC3339Nano, to); err != nil || !toT.After(fromT) {
			return fromT, toT, errors.New("--to must be an RFC 3339 time after --from")
		}
	}
	return fromT, toT, nil
}
