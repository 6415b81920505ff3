package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/gen"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/internal/broker"
	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/ops"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/file"
	"github.com/logweave/logweave/sinks/loki"
)

func runDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common     commonFlags
		dataDir    string
		port       int
		partitions int
		listen     string
		grpcListen string
		genRate    float64
		genLogs    string
		every      time.Duration
		esURL      string
		lokiURL    string
		genOpts    devGen
	)
	common.register(fs)
	fs.StringVar(&dataDir, "data-dir", ".logweave", "state directory: kafka/ for the embedded broker, files/ for the file sink")
	fs.IntVar(&port, "port", 9092, "embedded Kafka port on 127.0.0.1 (0: any free port)")
	fs.IntVar(&partitions, "partitions", 4, "partitions of logweave.raw and logweave.enriched")
	fs.StringVar(&listen, "listen", "127.0.0.1:4318", "ingest address (OTLP/HTTP and NDJSON)")
	fs.StringVar(&grpcListen, "grpc-listen", "127.0.0.1:4317", "ingest OTLP/gRPC address (empty: no gRPC)")
	fs.Float64Var(&genRate, "gen", 5, "also run the workload generator at this many submissions/s (0: off)")
	fs.StringVar(&genLogs, "gen-logs", "otlp", "how the generator sends logs: otlp or ndjson")
	fs.StringVar(&genOpts.protocol, "gen-protocol", "http", "OTLP protocol of the generator's SDK exporters: http or grpc")
	fs.BoolVar(&genOpts.traceContextLogs, "gen-trace-context-logs", false, "generator logs carry only the trace context, no submission attributes, as OpenTelemetry log bridges send them")
	fs.BoolVar(&genOpts.defaultBatching, "gen-default-batching", false, "generator services export with the SDK's default batch processors (spans every 5s)")
	fs.DurationVar(&genOpts.phaseOffset, "gen-phase-offset", 0, "start the generator's root service's exporters this long after the other services', so their flushes are out of phase (e.g. 2.5s)")
	fs.DurationVar(&every, "status-every", 3*time.Second, "how often to print the status line")
	fs.Uint64Var(&genOpts.seed, "gen-seed", 0, "generator seed (default: random)")
	fs.IntVar(&genOpts.count, "gen-count", 0, "stop the generator after this many submissions (0: run until stopped)")
	fs.StringVar(&genOpts.manifest, "gen-manifest", "", "write the generator's manifest (JSON lines) to this file")
	fs.StringVar(&lokiURL, "loki", "", "also run a Loki sink named loki against this URL (e.g. http://127.0.0.1:3100)")
	fs.StringVar(&esURL, "es", "", "also run an Elasticsearch sink named es against this URL (e.g. http://127.0.0.1:9200)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave dev [flags]\n\nRuns the whole pipeline in one process on an embedded Kafka: broker, ingest,\nenrich and every configured sink (by default a file sink), plus a workload.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	switch {
	case genOpts.protocol != "http" && genOpts.protocol != "grpc":
		fmt.Fprintf(stderr, "logweave dev: --gen-protocol %q is not allowed (allowed: http, grpc)\n", genOpts.protocol)
		return 2
	case genOpts.protocol == "grpc" && grpcListen == "":
		fmt.Fprintln(stderr, "logweave dev: --gen-protocol grpc needs --grpc-listen")
		return 2
	}
	if common.adminAddr == "" {
		common.adminAddr = "127.0.0.1:0"
	}
	extra := func(c *config.Config) {
		c.Kafka.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", max(port, 1))}
		c.Kafka.Topics.Raw.Partitions = int32(partitions)
		c.Kafka.Topics.Enriched.Partitions = int32(partitions)
		c.Ingest.Listen = listen
		c.Ingest.GRPCListen = grpcListen
		if lokiURL != "" {
			if _, ok := c.Sink("loki"); !ok {
				lk := c.DefaultSink("loki", "loki")
				lk.Settings.(*loki.Config).URL = lokiURL
				c.Sinks = append(c.Sinks, lk)
			}
		}
		if esURL != "" {
			if _, ok := c.Sink("es"); !ok {
				es := c.DefaultSink("es", "elasticsearch")
				es.Settings.(*elasticsearch.Config).URLs = []string{esURL}
				c.Sinks = append(c.Sinks, es)
			}
		}
		for i := range c.Sinks {
			if fc, ok := c.Sinks[i].Settings.(*file.Config); ok && fc.Dir == filepath.Join(".logweave", "files") {
				fc.Dir = filepath.Join(dataDir, "files")
			}
		}
	}
	return runProcess("dev", &common, extra, stdout, stderr, func(ctx context.Context, p *process) error {
		b, err := broker.Start(ctx, broker.Config{Port: port, DataDir: filepath.Join(dataDir, "kafka"), Topics: p.cfg.Kafka.Topics}, p.logger)
		if err != nil {
			return err
		}
		defer b.Close()
		p.cfg.Kafka.Brokers = []string{b.Addr()}
		p.stats = &pipelineStats{sinks: map[string]*sinks.Runner{}}
		genOpts.rate, genOpts.logs = genRate, genLogs
		return runPipeline(ctx, p, b.Addr(), genOpts, every)
	})
}

// devGen configures the generator of logweave dev.
type devGen struct {
	rate             float64
	logs             string
	seed             uint64
	count            int
	manifest         string
	protocol         string
	traceContextLogs bool
	defaultBatching  bool
	phaseOffset      time.Duration
}

// runPipeline runs ingest, enrich, the sinks and the generator until ctx is
// done or a stage fails, then stops them in data-flow order (pipeline.go).
func runPipeline(ctx context.Context, p *process, brokerAddr string, g devGen, every time.Duration) error {
	lns, err := listenIngest(p.cfg.Ingest)
	if err != nil {
		return err
	}
	cl, err := p.kafka().NewClient("ingest", ingest.ProducerOptions(p.cfg.Ingest)...)
	if err != nil {
		lns.http.Close()
		if lns.grpc != nil {
			lns.grpc.Close()
		}
		return err
	}
	defer cl.Close()
	rt, watchRoutes, err := newRouter(p)
	if err != nil {
		return err
	}
	var genCfg gen.Config
	url, grpcURL := "http://"+lns.http.Addr().String(), ""
	if lns.grpc != nil {
		grpcURL = "http://" + lns.grpc.Addr().String()
	}
	if g.rate > 0 {
		genCfg = g.config(url, grpcURL)
		if g.manifest != "" {
			f, err := os.Create(g.manifest)
			if err != nil {
				return err
			}
			defer f.Close()
			genCfg.Manifest = f
		}
	}

	pl := newPipeline(ctx)
	pl.start(stopIngest, "ingest", func(c context.Context) error { return serveIngest(c, p, cl, lns) })
	pl.start(stopEnrich, "enrich", func(c context.Context) error { return runEnricher(c, p) })
	var sinkNames []string
	for _, sc := range p.cfg.Sinks {
		sinkNames = append(sinkNames, sc.Name)
		pl.start(stopSinks, "sink "+sc.Name, func(c context.Context) error { return runSinkRunner(c, p, sc, rt) })
	}
	if watchRoutes != nil {
		pl.start(stopRoutes, "routes", func(c context.Context) error { watchRoutes(c); return nil })
	}
	printDevBanner(p, brokerAddr, url, lns, sinkNames)
	if g.rate > 0 {
		fmt.Fprintf(p.stdout, "logweave dev: generating %.1f submissions/s (--gen 0 to stop); Ctrl-C to quit\n", g.rate)
		pl.start(stopGen, "gen", func(c context.Context) error {
			rep, err := gen.Run(c, genCfg)
			p.logger.Info("generator stopped", "report", rep.String())
			if err == nil && c.Err() == nil {
				fmt.Fprintln(p.stdout, "logweave dev: generator done:", rep.String())
				<-c.Done() // the rest of the pipeline keeps running
				return nil
			}
			if c.Err() != nil {
				return nil
			}
			return err
		})
	}

	line := ops.NewLine(kadm.NewClient(cl), p.cfg.Kafka.Topics.Enriched.Name, sinkNames)
	tick := time.NewTicker(every)
	defer tick.Stop()
loop:
	for {
		select {
		case <-pl.Failed():
			break loop
		case <-tick.C:
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fmt.Fprintln(p.stdout, line.String(sctx, p.stats.counts()))
			cancel()
		}
	}
	err = pl.stop()
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	fmt.Fprintln(p.stdout, line.String(fctx, p.stats.counts()))
	cancel()
	return err
}

// printDevBanner says where everything of logweave dev listens.
func printDevBanner(p *process, brokerAddr, url string, lns ingestListeners, sinkNames []string) {
	grpcNote := "no OTLP/gRPC"
	if lns.grpc != nil {
		grpcNote = "OTLP/gRPC " + lns.grpc.Addr().String()
	}
	fmt.Fprintf(p.stdout, "logweave dev: kafka %s | ingest %s (/v1/logs /v1/traces /v1/ndjson), %s | sinks %v\n", brokerAddr, url, grpcNote, sinkNames)
	for _, sc := range p.cfg.Sinks {
		if fc, ok := sc.Settings.(*file.Config); ok {
			fmt.Fprintf(p.stdout, "logweave dev: file sink %q writes %s\n", sc.Name, fc.Dir)
		}
	}
}

// config is the generator's configuration: gen's defaults with dev's flags.
func (g devGen) config(url, grpcURL string) gen.Config {
	cfg := gen.DefaultConfig()
	cfg.URL, cfg.GRPCURL, cfg.Logs, cfg.Protocol = url, grpcURL, g.logs, g.protocol
	cfg.Rate, cfg.Count, cfg.Duration = g.rate, g.count, 365*24*time.Hour
	cfg.Seed = g.seed
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.TraceContextLogs, cfg.DefaultBatching, cfg.PhaseOffset = g.traceContextLogs, g.defaultBatching, g.phaseOffset
	return cfg
}

// pipelineStats collects the counters of dev's stages as they start, for
// the status line. Its methods do nothing on a nil receiver (the roles run
// on their own).
type pipelineStats struct {
	mu       sync.Mutex
	ingest   *ingest.Server
	enricher *enrich.Enricher
	sinks    map[string]*sinks.Runner // by sink name
}

// update records a started stage under the lock.
func (s *pipelineStats) update(f func(*pipelineStats)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// counts reads the stages started so far.
func (s *pipelineStats) counts() ops.Counts {
	c := ops.Counts{Sinks: map[string]ops.SinkCounts{}}
	if s == nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ingest != nil {
		c.Ingested = s.ingest.Accepted()
	}
	if s.enricher != nil {
		st := s.enricher.Stats()
		c.EnrichRead, c.EnrichKept = st.Consumed, st.Kept
	}
	for name, r := range s.sinks {
		st := r.Stats()
		c.Sinks[name] = ops.SinkCounts{Delivered: st.Delivered, DeadLettered: st.DeadLettered}
	}
	return c
}
