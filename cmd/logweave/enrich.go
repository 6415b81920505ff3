package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/internal/reload"
)

func runEnrich(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave enrich", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common commonFlags
	common.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave enrich [flags]\n\nOne member of consumer group logweave-enrich: joins and samples logweave.raw into logweave.enriched, exactly once.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	return runProcess("enrich", &common, nil, stdout, stderr, func(ctx context.Context, p *process) error {
		return runEnricher(ctx, p)
	})
}

// runEnricher runs one enricher with hot-reloaded rules until ctx is done
// or the enricher fails; the rules watcher ends with it.
func runEnricher(ctx context.Context, p *process) error {
	rules, err := enrich.LoadRules(p.cfg.Enrich.RulesFile)
	if err != nil {
		return err
	}
	base, err := p.kafka().Options("enrich")
	if err != nil {
		return err
	}
	t := p.cfg.Kafka.Topics
	e, err := enrich.New(p.cfg.Enrich, enrich.Topics{Raw: t.Raw.Name, Enriched: t.Enriched.Name, DLQ: t.DLQ.Name}, rules, base,
		enrich.Deps{Logger: p.logger, Registerer: p.reg, Startup: p.startup("enrich-startup").Pending,
			ClientOpts: p.kafka().Metrics("enrich")})
	if err != nil {
		return err
	}
	p.stats.update(func(s *pipelineStats) { s.enricher = e })
	var watchRules func(context.Context)
	if path := p.cfg.Enrich.RulesFile; path != "" {
		watchRules = hupWatch(&reload.Watcher{Kind: "rules", Path: path, Interval: p.cfg.Enrich.ReloadInterval, Logger: p.logger,
			Metrics: p.reloadMetrics(),
			Apply: func(b []byte) error {
				r, err := enrich.ParseRules(b)
				if err != nil {
					return err
				}
				e.SetRules(r)
				return nil
			}})
	}
	p.ready.Set("enrich", pingCheck(e.Client()))
	p.logger.Info("enricher running", "group", enrich.Group, "from", t.Raw.Name, "to", t.Enriched.Name)
	return runWatched(ctx, e.Run, watchRules)
}
