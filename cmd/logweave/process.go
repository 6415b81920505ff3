package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/logweave/logweave/internal/admin"
	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/internal/logging"
	"github.com/logweave/logweave/internal/reload"
)

// commonFlags are the flags every role accepts.
type commonFlags struct {
	configPath string
	logLevel   string
	logFormat  string
	adminAddr  string
	brokers    string
}

func (f *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configPath, "c", os.Getenv("LOGWEAVE_CONFIG"), "configuration file (default $LOGWEAVE_CONFIG; none: defaults)")
	fs.StringVar(&f.configPath, "config", os.Getenv("LOGWEAVE_CONFIG"), "the same as -c")
	fs.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	fs.StringVar(&f.logFormat, "log-format", "", "log format: text, json (overrides log.format)")
	fs.StringVar(&f.adminAddr, "admin", "", "admin server host:port for /metrics, /healthz, /readyz (overrides admin.listen)")
	fs.StringVar(&f.brokers, "brokers", "", "comma-separated seed brokers (overrides kafka.brokers)")
}

// apply puts the flags that were set over the configuration.
func (f *commonFlags) apply(c *config.Config) {
	if f.logLevel != "" {
		c.Log.Level = f.logLevel
	}
	if f.logFormat != "" {
		c.Log.Format = f.logFormat
	}
	if f.adminAddr != "" {
		c.Admin.Listen = f.adminAddr
	}
	if f.brokers != "" {
		c.Kafka.Brokers = splitComma(f.brokers)
	}
}

// process is what every role gets from the wiring: its configuration, a
// logger, a metrics registry (never the global one) and readiness checks.
type process struct {
	role   string
	cfg    config.Config
	logger *slog.Logger
	reg    *prometheus.Registry
	ready  *admin.Readiness
	stdout io.Writer

	reloadOnce sync.Once
	reloadM    *reload.Metrics

	clientsOnce sync.Once
	clients     *kafka.Clients

	// stats, in logweave dev only, collects the running stages' counters
	// for the status line; nil elsewhere.
	stats *pipelineStats
}

// startup returns the retry settings of a role's Kafka startup steps and
// registers a readiness check called name that fails, with the last error,
// until the steps succeed. Processes of a fleet start in any order, so a
// role waits for Kafka and its topics instead of exiting.
func (p *process) startup(name string) kafka.Startup {
	pending := admin.NewPending("waiting for kafka")
	p.ready.Set(name, pending.Check)
	return kafka.Startup{Logger: p.logger, Pending: pending}
}

// kafka is the process's Kafka client constructor: the role's client id
// ("<client_id>-<role>"), franz-go's logs through the process logger and,
// for each role's main client, its metrics on the process registry. Built
// on first use, so that logweave dev can point kafka.brokers at its
// embedded broker first.
func (p *process) kafka() *kafka.Clients {
	p.clientsOnce.Do(func() {
		var reg prometheus.Registerer
		if p.reg != nil {
			reg = p.reg
		}
		p.clients = kafka.NewClients(p.cfg.Kafka, p.logger, reg)
	})
	return p.clients
}

// reloadMetrics registers the reload metrics once per process.
func (p *process) reloadMetrics() *reload.Metrics {
	p.reloadOnce.Do(func() { p.reloadM = reload.NewMetrics(p.reg) })
	return p.reloadM
}

// runProcess loads the configuration, starts the admin server and runs fn
// until it returns or a signal arrives. The first SIGINT/SIGTERM cancels
// fn's context; fn then has cfg.ShutdownTimeout to return before the process
// exits anyway; a second signal exits at once.
func runProcess(role string, f *commonFlags, extra func(*config.Config), stdout, stderr io.Writer,
	fn func(ctx context.Context, p *process) error,
) int {
	cfg, err := config.Load(f.configPath, sinkTypes(), os.Getenv, f.apply, extra)
	if err != nil {
		fmt.Fprintf(stderr, "logweave %s: invalid configuration:\n%s\n", role, indent(err.Error()))
		return 2
	}
	logger, err := logging.New(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "logweave %s: %v\n", role, err)
		return 2
	}
	logger = logger.With("role", role)
	defer startProfiles(role, logger)()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoCollector())
	p := &process{role: role, cfg: cfg, logger: logger, reg: reg, ready: &admin.Readiness{}, stdout: stdout}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var adminDone chan error
	if cfg.Admin.Listen != "" {
		srv, err := admin.Listen(cfg.Admin, reg, p.ready, logger)
		if err != nil {
			logger.Error("starting admin server", "err", err)
			return 1
		}
		logger.Info("admin server listening", "addr", srv.Addr(), "endpoints", "/metrics /healthz /readyz")
		adminDone = make(chan error, 1)
		adminCtx, adminCancel := context.WithCancel(context.Background())
		defer func() {
			adminCancel()
			if err := <-adminDone; err != nil {
				logger.Error("admin server", "err", err)
			}
		}()
		go func() { adminDone <- srv.Run(adminCtx) }()
	}

	done := make(chan error, 1)
	go func() { done <- fn(ctx, p) }()
	select {
	case err = <-done:
	case sig := <-sigs:
		logger.Info("shutting down", "signal", sig.String(), "deadline", cfg.ShutdownTimeout)
		cancel()
		timer := time.NewTimer(cfg.ShutdownTimeout)
		defer timer.Stop()
		select {
		case err = <-done:
		case sig := <-sigs:
			logger.Error("second signal, exiting without finishing shutdown", "signal", sig.String())
			return 130
		case <-timer.C:
			logger.Error("shutdown deadline passed, exiting without finishing shutdown", "deadline", cfg.ShutdownTimeout)
			return 1
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("exiting", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func splitComma(s string) []string { return splitOn(s, ",") }

// splitOn is s split at sep, each part trimmed, empty parts dropped.
func splitOn(s, sep string) []string {
	var out []string
	for _, part := range strings.Split(s, sep) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
