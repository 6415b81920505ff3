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

	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/reconcile"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
)

// stringList is a flag that may be repeated and takes comma-separated
// values.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, splitComma(s)...)
	return nil
}

func runReconcile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common          commonFlags
		from, to, index string
		submits, only   stringList
		repair, asJSON  bool
		margin, settle  time.Duration
	)
	common.register(fs)
	fs.StringVar(&from, "from", "", "RFC 3339 start of the window of logweave.enriched (required)")
	fs.StringVar(&to, "to", "", "RFC 3339 end of the window (default: the end of the topic now)")
	fs.Var(&submits, "submit", "check only these submit_ids (repeatable, comma-separated)")
	fs.Var(&only, "sink", "check only these sinks (repeatable, comma-separated; default: every elasticsearch and loki sink)")
	fs.BoolVar(&repair, "repair", false, "re-drive missing records through the sink (idempotent), then check again")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&index, "es-index", "logweave-*", "Elasticsearch index pattern searched for extra and duplicated documents")
	fs.DurationVar(&margin, "margin", 15*time.Minute, "read this much before --from and after --to, so submissions at the edges are compared whole")
	fs.DurationVar(&settle, "settle", 10*time.Second, "after --repair, how long to wait for repaired records to become searchable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave reconcile --from TIME [--to TIME] [--submit ID...] [--sink NAME...] [--repair] [--json]\n\nCompares, per submission, what logweave.enriched routed to each Elasticsearch and Loki sink\n(minus what logweave.dlq says it dead-lettered) with what the destination holds: missing,\nextra and duplicated records. Exit status 0 only when everything matches.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if from == "" {
		fmt.Fprintln(stderr, "logweave reconcile: --from is required")
		return 2
	}
	fromT, toT, err := parseWindow(from, to)
	if err != nil {
		fmt.Fprintf(stderr, "logweave reconcile: %v\n", err)
		return 2
	}
	cfg, ok := loadForTool("reconcile", &common, stderr)
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	targets, code := reconcileTargets(ctx, cfg, only, index, repair, stderr)
	if code != 0 {
		return code
	}
	defer func() {
		for _, t := range targets {
			if t.Writer != nil {
				t.Writer.Close()
			}
		}
	}()
	base, err := kafka.NewClients(cfg.Kafka, nil, nil).Options("reconcile")
	if err != nil {
		fmt.Fprintf(stderr, "logweave reconcile: %v\n", err)
		return 2
	}
	rep, err := reconcile.Run(ctx, reconcile.Options{
		Base: base, Topics: sinks.Topics{Enriched: cfg.Kafka.Topics.Enriched.Name, DLQ: cfg.Kafka.Topics.DLQ.Name},
		From: fromT, To: toT, Margin: margin, Submissions: submits, Targets: targets, Repair: repair, Settle: settle, Progress: os.Stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "logweave reconcile: %v\n", err)
		return 1
	}
	if asJSON {
		if err := rep.WriteJSON(stdout); err != nil {
			return 1
		}
	} else {
		rep.WriteText(stdout)
	}
	if !rep.Clean() {
		return 1
	}
	return 0
}

// reconcileTargets builds a lookup and a writer for every elasticsearch
// and loki sink of the configuration (or those named in only). The writer
// (the sink itself, which may install an index template when created) is
// built only for a repair.
func reconcileTargets(ctx context.Context, cfg config.Config, only []string, index string, repair bool, stderr io.Writer) ([]reconcile.Target, int) {
	routes, err := router.Load(cfg.Router.File)
	if err != nil {
		fmt.Fprintf(stderr, "logweave reconcile: %v\n", err)
		return nil, 2
	}
	rt, err := router.New(routes)
	if err != nil {
		fmt.Fprintf(stderr, "logweave reconcile: %v\n", err)
		return nil, 2
	}
	wanted := map[string]bool{}
	for _, n := range only {
		if _, ok := cfg.Sink(n); !ok {
			fmt.Fprintf(stderr, "logweave reconcile: no sink %q in the configuration\n", n)
			return nil, 2
		}
		wanted[n] = true
	}
	p := &process{cfg: cfg, reg: prometheus.NewRegistry()}
	var out []reconcile.Target
	for _, sc := range cfg.Sinks {
		if len(wanted) > 0 && !wanted[sc.Name] {
			continue
		}
		f, _ := cfg.SinkTypes.Get(sc.Type) // config.Load checked the type
		dest, err := f.NewLookup(sc.Settings, sinks.LookupOptions{Index: index})
		if errors.Is(err, sinks.ErrNoLookup) {
			if wanted[sc.Name] {
				fmt.Fprintf(stderr, "logweave reconcile: sink %q is of type %s: %v\n", sc.Name, sc.Type, err)
				return nil, 2
			}
			continue
		}
		if err != nil {
			fmt.Fprintf(stderr, "logweave reconcile: sink %s: %v\n", sc.Name, err)
			return nil, 2
		}
		var w sinks.Sink
		if repair {
			if w, err = newSink(ctx, p, sc); err != nil {
				fmt.Fprintf(stderr, "logweave reconcile: sink %s: %v\n", sc.Name, err)
				return nil, 1
			}
		}
		out = append(out, reconcile.Target{Name: sc.Name, Router: rt, Dest: dest, Writer: w, Group: sc.Group(), BatchRecords: sc.Batch.MaxRecords})
	}
	if len(out) == 0 {
		fmt.Fprintln(stderr, "logweave reconcile: the configuration has no elasticsearch or loki sink")
		return nil, 2
	}
	return out, 0
}
