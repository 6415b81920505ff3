package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/internal/kafka"
)

func runIngest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common     commonFlags
		listen     string
		grpcListen optionalString
	)
	common.register(fs)
	fs.StringVar(&listen, "listen", "", "HTTP address for OTLP/HTTP and NDJSON (overrides ingest.listen, default 127.0.0.1:4318)")
	fs.Var(&grpcListen, "grpc-listen", "OTLP/gRPC address (overrides ingest.grpc_listen, default 127.0.0.1:4317; empty: no gRPC)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave ingest [flags]\n\nReceives OTLP/HTTP (/v1/logs, /v1/traces), OTLP/gRPC and NDJSON (/v1/ndjson) and produces to logweave.raw.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	extra := func(c *config.Config) {
		if listen != "" {
			c.Ingest.Listen = listen
		}
		if grpcListen.set {
			c.Ingest.GRPCListen = grpcListen.value
		}
	}
	return runProcess("ingest", &common, extra, stdout, stderr, func(ctx context.Context, p *process) error {
		cl, err := p.kafka().NewClient("ingest", ingest.ProducerOptions(p.cfg.Ingest)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := bootstrapTopics(ctx, p, cl, p.startup("ingest-startup")); err != nil {
			return err
		}
		lns, err := listenIngest(p.cfg.Ingest)
		if err != nil {
			return err
		}
		return serveIngest(ctx, p, cl, lns)
	})
}

// ingestListeners are the receiver's sockets; grpc is nil when
// ingest.grpc_listen is empty.
type ingestListeners struct {
	http, grpc net.Listener
}

// listenIngest opens the HTTP and, unless turned off, the gRPC listener.
func listenIngest(cfg ingest.Config) (ingestListeners, error) {
	var lns ingestListeners
	var err error
	if lns.http, err = net.Listen("tcp", cfg.Listen); err != nil {
		return lns, fmt.Errorf("listening on ingest.listen %s: %w", cfg.Listen, err)
	}
	if cfg.GRPCListen != "" {
		if lns.grpc, err = net.Listen("tcp", cfg.GRPCListen); err != nil {
			lns.http.Close()
			return lns, fmt.Errorf("listening on ingest.grpc_listen %s: %w", cfg.GRPCListen, err)
		}
	}
	return lns, nil
}

// serveIngest runs the HTTP and gRPC receivers until ctx is done (or one
// of them fails, which stops the other), then drains: stop accepting, let
// in-flight requests get their acknowledgements (each server within
// shutdown_timeout), flush the producer.
func serveIngest(ctx context.Context, p *process, cl *kgo.Client, lns ingestListeners) error {
	srv, err := ingest.New(p.cfg.Ingest, p.cfg.Kafka.Topics.Raw.Name, cl, ingest.Deps{Logger: p.logger, Registerer: p.reg})
	if err != nil {
		lns.http.Close()
		if lns.grpc != nil {
			lns.grpc.Close()
		}
		return err
	}
	p.stats.update(func(s *pipelineStats) { s.ingest = srv })
	p.ready.Set("kafka", pingCheck(cl))
	p.logger.Info("ingest listening", "addr", lns.http.Addr().String(), "endpoints", "/v1/logs /v1/traces /v1/ndjson", "topic", p.cfg.Kafka.Topics.Raw.Name)
	fmt.Fprintf(p.stdout, "ingest listening on http://%s\n", lns.http.Addr())
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 2)
	servers := 1
	go func() { errc <- srv.Serve(sctx, lns.http, p.cfg.ShutdownTimeout) }()
	if lns.grpc != nil {
		servers++
		p.logger.Info("ingest listening for OTLP/gRPC", "addr", lns.grpc.Addr().String())
		fmt.Fprintf(p.stdout, "ingest listening for OTLP/gRPC on %s\n", lns.grpc.Addr())
		go func() { errc <- srv.ServeGRPC(sctx, lns.grpc, p.cfg.ShutdownTimeout) }()
	}
	var errs []error
	for i := 0; i < servers; i++ {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
		stop()
	}
	fctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	if ferr := cl.Flush(fctx); ferr != nil {
		p.logger.Warn("flushing producer at shutdown", "err", ferr)
	}
	return errors.Join(errs...)
}

// optionalString is a string flag that knows whether it was given, so an
// empty value can override a configured one.
type optionalString struct {
	value string
	set   bool
}

func (o *optionalString) String() string { return o.value }

func (o *optionalString) Set(v string) error {
	o.value, o.set = v, true
	return nil
}

// bootstrapTopics creates or checks the logweave topics when configured
// to, retrying while Kafka is not ready (st), and giving up on what
// retrying cannot fix (a keyed topic with another partition count,
// authentication).
func bootstrapTopics(ctx context.Context, p *process, cl *kgo.Client, st kafka.Startup) error {
	t := p.cfg.Kafka.Topics
	if !t.Bootstrap {
		st.Pending.Done()
		return nil
	}
	adm := kadm.NewClient(cl)
	return st.Do(ctx, "bootstrapping topics", func(ctx context.Context) error {
		bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		states, err := kafka.EnsureTopics(bctx, adm, t.ReplicationFactor, t.Specs())
		for _, s := range states {
			if s.Created {
				p.logger.Info("created topic", "topic", s.Topic, "partitions", s.Partitions)
			} else if s.Mismatch != nil {
				p.logger.Warn("topic partition count differs from config", "topic", s.Topic, "partitions", s.Partitions, "configured", s.Mismatch.Want)
			}
		}
		if err != nil {
			return fmt.Errorf("bootstrapping topics: %w", err)
		}
		return nil
	})
}

// pingCheck is a readiness check that the brokers answer.
func pingCheck(cl *kgo.Client) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err != nil {
			return fmt.Errorf("kafka unreachable: %w", err)
		}
		return nil
	}
}
