// Package admin serves the endpoints every logweave process exposes:
// /metrics (Prometheus), /healthz (the process is alive) and /readyz (the
// role is ready for traffic).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the `admin:` section.
type Config struct {
	// Listen is the host:port of the admin server. Default
	// 127.0.0.1:9464; use port 0 for any free port; empty disables it.
	Listen string `yaml:"listen"`
}

// Default returns Listen 127.0.0.1:9464.
func Default() Config { return Config{Listen: "127.0.0.1:9464"} }

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	return nil
}

// Readiness collects named readiness checks. A role registers one check per
// thing it waits for (joined the group, topics exist); /readyz is 200 only
// when every check passes. It is safe for concurrent use.
type Readiness struct {
	mu     sync.Mutex
	checks map[string]func() error
}

// Set registers or replaces the check called name.
func (r *Readiness) Set(name string, check func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = make(map[string]func() error)
	}
	r.checks[name] = check
}

// Check runs every check and returns the failures joined, named.
func (r *Readiness) Check() error {
	r.mu.Lock()
	names := make([]string, 0, len(r.checks))
	for n := range r.checks {
		names = append(names, n)
	}
	checks := make(map[string]func() error, len(r.checks))
	for n, c := range r.checks {
		checks[n] = c
	}
	r.mu.Unlock()
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		if err := checks[n](); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Pending is a readiness check for a step a role must finish before it is
// ready, such as reaching Kafka at startup while the brokers are still
// coming up: it fails until Done, naming the step and the last error of
// its attempts. A nil *Pending is allowed and does nothing. It is safe for
// concurrent use.
type Pending struct {
	mu   sync.Mutex
	what string
	last error
	done bool
}

// NewPending returns a check that fails with "what" until Done.
func NewPending(what string) *Pending { return &Pending{what: what} }

// Retrying records the error of a failed attempt; Check reports it.
func (p *Pending) Retrying(err error) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = err
}

// Done makes the check pass from now on.
func (p *Pending) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.last = true, nil
}

// Check fails until Done.
func (p *Pending) Check() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.done:
		return nil
	case p.last != nil:
		return fmt.Errorf("%s: retrying after: %w", p.what, p.last)
	}
	return errors.New(p.what)
}

// Server is the admin HTTP server of one process.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
}

// Listen binds the admin address and prepares the handlers. Gatherer is
// the registry the process registered its metrics on (never the global
// default registry).
func Listen(c Config, reg prometheus.Gatherer, ready *Readiness, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on admin.listen %s: %w", c.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready.Check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:")
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(w, " ", line)
			}
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return &Server{
		ln:     ln,
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		logger: logger,
	}, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down, giving in-flight scrapes
// up to five seconds.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving admin endpoints: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down admin server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving admin endpoints: %w", err)
	}
	return nil
}
