package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/internal/reload"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
)

func runSink(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common commonFlags
		name   string
	)
	common.register(fs)
	fs.StringVar(&name, "name", "", "the sink to run, from the sinks: section (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave sink --name NAME [flags]\n\nRuns one member of consumer group logweave-sink-NAME on logweave.enriched.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if name == "" {
		fmt.Fprintln(stderr, "logweave sink: --name is required")
		fs.Usage()
		return 2
	}
	return runProcess("sink", &common, nil, stdout, stderr, func(ctx context.Context, p *process) error {
		return runSinkRole(ctx, p, name)
	})
}

// runSinkRole runs the sink called name with hot-reloaded routes until ctx
// is done or the sink fails; the routes watcher ends with it.
func runSinkRole(ctx context.Context, p *process, name string) error {
	sc, ok := p.cfg.Sink(name)
	if !ok {
		var names []string
		for _, s := range p.cfg.Sinks {
			names = append(names, s.Name)
		}
		return fmt.Errorf("no sink %q in the configuration (configured: %s)", name, strings.Join(names, ", "))
	}
	rt, watchRoutes, err := newRouter(p)
	if err != nil {
		return err
	}
	return runWatched(ctx, func(ctx context.Context) error { return runSinkRunner(ctx, p, sc, rt) }, watchRoutes)
}

// newRouter loads the routes, and returns the watcher that keeps them
// fresh (nil without a routes file): file changes and SIGHUP re-apply them;
// a bad file keeps the old routes. The caller runs the watcher (runWatched,
// or a stage of logweave dev).
func newRouter(p *process) (*router.Router, func(context.Context), error) {
	cfg, err := router.Load(p.cfg.Router.File)
	if err != nil {
		return nil, nil, err
	}
	rt, err := router.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	if p.cfg.Router.File == "" {
		return rt, nil, nil
	}
	watch := hupWatch(&reload.Watcher{
		Kind: "routes", Path: p.cfg.Router.File, Interval: p.cfg.Router.ReloadInterval, Logger: p.logger,
		Metrics: p.reloadMetrics(),
		Apply: func(b []byte) error {
			cfg, err := router.Parse(b)
			if err != nil {
				return err
			}
			return rt.Reload(cfg)
		},
	})
	return rt, watch, nil
}

// newSink builds the destination of a sink entry with its type's factory.
func newSink(ctx context.Context, p *process, sc config.Sink) (sinks.Sink, error) {
	f, ok := p.cfg.SinkTypes.Get(sc.Type)
	if !ok {
		return nil, fmt.Errorf("sink %q: type %q is not allowed (allowed: %s)", sc.Name, sc.Type, strings.Join(p.cfg.SinkTypes.Types(), ", "))
	}
	return f.New(ctx, sinks.Settings{Name: sc.Name, Registerer: p.reg, Logger: p.logger}, sc.Settings)
}

func runSinkRunner(ctx context.Context, p *process, sc config.Sink, rt *router.Router) error {
	dest, err := newSink(ctx, p, sc)
	if err != nil {
		return err
	}
	role := "sink-" + sc.Name
	base, err := p.kafka().Options(role)
	if err != nil {
		return err
	}
	topics := sinks.Topics{Enriched: p.cfg.Kafka.Topics.Enriched.Name, DLQ: p.cfg.Kafka.Topics.DLQ.Name}
	r, err := sinks.New(sc.Config, dest, rt, topics, base, p.cfg.ShutdownTimeout/2, sinks.Deps{Logger: p.logger, Registerer: p.reg,
		ClientOpts: p.kafka().Metrics(role)})
	if err != nil {
		dest.Close()
		return err
	}
	p.stats.update(func(s *pipelineStats) { s.sinks[sc.Name] = r })
	p.ready.Set(role, pingCheck(r.Client()))
	p.logger.Info("sink running", "sink", sc.Name, "type", sc.Type, "group", sc.Group(), "topic", topics.Enriched)
	return r.Run(ctx)
}
