package kafka

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Clients builds the Kafka clients of one process, for every role: each
// client starts from the configuration's options (Options: brokers, dialer,
// TLS, SASL), carries the client id "<client_id>-<role>" (logweave-ingest,
// logweave-enrich, logweave-sink-es, ...), and logs through the process
// logger (ClientLogger); the main client of each role also records franz-go's
// metrics on the process registry (ClientMetrics).
//
// A Clients is safe for concurrent use. `logweave dev` runs every role in one
// process with one Clients.
type Clients struct {
	cfg    Config
	logger *slog.Logger
	reg    prometheus.Registerer

	mu      sync.Mutex
	metered map[string]bool // roles whose kprom collectors are on reg
}

// NewClients returns the client constructor of a process. logger nil: franz-go
// logs nothing; reg nil: no client metrics.
func NewClients(cfg Config, logger *slog.Logger, reg prometheus.Registerer) *Clients {
	return &Clients{cfg: cfg, logger: logger, reg: reg, metered: map[string]bool{}}
}

// ClientID is the client id of role's clients: the configured client_id,
// a dash, and the role.
func (c *Clients) ClientID(role string) string { return c.cfg.ClientID + "-" + role }

// Options are the options every client of role starts from: the shared
// ones, role's client id and the logger. Roles that build their clients
// themselves (enrich, the sink runtime, replay) take these as their base,
// so their short-lived helper clients carry the role's id too.
func (c *Clients) Options(role string) ([]kgo.Opt, error) {
	opts, err := Options(c.cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ClientID(c.ClientID(role)))
	if c.logger != nil {
		opts = append(opts, ClientLogger(c.logger))
	}
	return opts, nil
}

// Metrics is the kprom hook of role's main client, labelled client=role, on
// the process registry. kprom's collectors belong to the client that
// registers them and a second registration of the same series panics, so a
// role gets one hook at a time: while a client built with role's hook is
// open, Metrics(role) returns nothing (that client is not metered); the hook
// is free again once that client closes. Nil without a registry.
func (c *Clients) Metrics(role string) []kgo.Opt {
	if c.reg == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metered[role] {
		if c.logger != nil {
			c.logger.Warn("kafka client metrics already recorded for this role by an open client; this one has none", "client", role)
		}
		return nil
	}
	c.metered[role] = true
	// kprom unregisters its collectors when the client closes; the
	// release hook runs after it (hooks run in order) and frees the role.
	return []kgo.Opt{ClientMetrics(c.reg, role), kgo.WithHooks(releaseRole{c: c, role: role})}
}

// releaseRole frees a role's metrics hook when its client closes.
type releaseRole struct {
	c    *Clients
	role string
}

func (r releaseRole) OnClientClosed(*kgo.Client) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	delete(r.c.metered, r.role)
}

// NewClient creates role's main client: Options(role), then extra, then
// Metrics(role).
func (c *Clients) NewClient(role string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.Options(role)
	if err != nil {
		return nil, err
	}
	opts = append(opts, extra...)
	metrics := c.Metrics(role)
	opts = append(opts, metrics...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		if len(metrics) > 0 {
			releaseRole{c: c, role: role}.OnClientClosed(nil)
		}
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	return cl, nil
}
