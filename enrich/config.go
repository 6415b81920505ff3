package enrich

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Group is the enricher's consumer group.
const Group = "logweave-enrich"

// Config is the `enrich:` section.
type Config struct {
	// RulesFile holds the sampling rules (see deploy/rules.example.yaml);
	// re-read on change or SIGHUP, a bad file keeps the old rules. Empty:
	// DefaultRules.
	RulesFile string `yaml:"rules_file"`
	// ReloadInterval between checks of RulesFile. Default 2s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// CompletionGrace waits this long after a submission's span tree
	// closed (its root or feedback span arrived and every span referenced
	// as a parent is there) for what SDK batching still holds back before
	// deciding: the OpenTelemetry SDKs' span batch processor exports every
	// 5s by default, so one service's spans can arrive up to 5s after
	// another's. Default 6s.
	CompletionGrace time.Duration `yaml:"completion_grace"`
	// InactivityTimeout decides a submission that got no record for this
	// long. Default 30s.
	InactivityTimeout time.Duration `yaml:"inactivity_timeout"`
	// MaxPendingAge decides a submission early once its first record is
	// this old, even if records keep arriving (a long judge run, a
	// logs-only stream): it bounds how long the committed watermark can
	// stay behind, and so the re-read window after a rebalance. Its
	// records say kept_by "early:age:<rule>"; later records follow the
	// decision. Default 2m.
	MaxPendingAge time.Duration `yaml:"max_pending_age"`
	// LinkTTL is how long a trace link (trace -> submission) is
	// remembered on the trace's partition, for context-only records that
	// arrive after it. A new owner reads the links of the last LinkTTL
	// from the raw topic, so it also bounds that re-read. Default 2m.
	LinkTTL time.Duration `yaml:"link_ttl"`
	// DecidedTTL is how long a decision is remembered for late records.
	// Default 10m.
	DecidedTTL time.Duration `yaml:"decided_ttl"`
	// LateWindow keeps a head-sampled submission's records re-readable by
	// a new owner: for this long after the decision the committed
	// watermark stays at the submission's first record, so a late record
	// that fires a tail rule upgrades it (kept_by "late:<rule>") even
	// after a crash or rebalance in between. Later upgrades work while the
	// same member owns the partition (DecidedTTL). It lengthens the
	// re-read after a rebalance by as much. 0 turns it off; longer than
	// DecidedTTL counts as DecidedTTL. Default 30s.
	LateWindow time.Duration `yaml:"late_window"`
	// MaxPendingSubmissions and MaxPendingBytes bound the state of one
	// process; above either, the oldest submissions are decided early.
	// MaxPendingBytes counts an estimate of the heap held (a held record
	// its wire size plus an eighth plus 232 bytes, its messages when it
	// keeps its decoded form, a pending submission 3 KiB plus 512 per
	// span; docs/enrich.md), remembered
	// decisions included (at most a quarter of it; the oldest are
	// forgotten first). Defaults 200000 and 512 MiB.
	MaxPendingSubmissions int `yaml:"max_pending_submissions"`
	MaxPendingBytes       int `yaml:"max_pending_bytes"`
	// FlushInterval is how often decided records are written and offsets
	// committed in one transaction. Default 250ms.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// TransactionalID of this process; must be unique per running process.
	// Default logweave-enrich-<hostname>-<pid>.
	TransactionalID string `yaml:"transactional_id"`
	// TransactionTimeout bounds a transaction on the broker. Default 60s.
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`
	// GroupName overrides the consumer group (replays of raw use
	// logweave-replay-raw-<job>); not configurable in the file.
	GroupName string `yaml:"-"`
}

func (c *Config) group() string {
	if c.GroupName != "" {
		return c.GroupName
	}
	return Group
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ReloadInterval:        2 * time.Second,
		CompletionGrace:       6 * time.Second,
		InactivityTimeout:     30 * time.Second,
		MaxPendingAge:         2 * time.Minute,
		LinkTTL:               2 * time.Minute,
		DecidedTTL:            10 * time.Minute,
		LateWindow:            30 * time.Second,
		MaxPendingSubmissions: 200000,
		MaxPendingBytes:       512 << 20,
		FlushInterval:         250 * time.Millisecond,
		TransactionTimeout:    60 * time.Second,
	}
}

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"reload_interval", c.ReloadInterval}, {"inactivity_timeout", c.InactivityTimeout}, {"max_pending_age", c.MaxPendingAge}, {"link_ttl", c.LinkTTL}, {"decided_ttl", c.DecidedTTL},
		{"flush_interval", c.FlushInterval}, {"transaction_timeout", c.TransactionTimeout}} {
		if f.d <= 0 {
			add("%s: must be positive", f.name)
		}
	}
	if c.CompletionGrace < 0 {
		add("completion_grace: must not be negative")
	}
	if c.LateWindow < 0 {
		add("late_window: must not be negative")
	}
	if c.MaxPendingAge > 0 && c.MaxPendingAge < c.CompletionGrace {
		add("max_pending_age: must be at least completion_grace (%s)", c.CompletionGrace)
	}
	if c.MaxPendingSubmissions < 1 {
		add("max_pending_submissions: must be at least 1")
	}
	if c.MaxPendingBytes < 1<<20 {
		add("max_pending_bytes: must be at least 1048576")
	}
	if c.RulesFile != "" {
		if _, err := LoadRules(c.RulesFile); err != nil {
			add("rules_file: %v", err)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) txnID() string {
	if c.TransactionalID != "" {
		return c.TransactionalID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("logweave-enrich-%s-%d", host, os.Getpid())
}
