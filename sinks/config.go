package sinks

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Config is the runtime part of a sink's configuration (an entry of
// `sinks:`; the destination's own section sits beside it).
type Config struct {
	// Name of the sink; the consumer group is logweave-sink-<name>.
	// Required: lowercase letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	// Start is where a group with no committed offsets starts: earliest
	// (default), latest, or an RFC 3339 time (the first offset at or after
	// it in each partition). Ignored once the group has committed.
	Start string `yaml:"start"`
	// Batch bounds one write.
	Batch Batch `yaml:"batch"`
	// Retry bounds retries of transient failures.
	Retry RetryPolicy `yaml:"retry"`
	// CommitInterval is the most time between commits of a partition that
	// makes progress. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// MaxQueuedRecords per partition fetched and not yet written; above
	// it the partition's fetching pauses. Default 10000.
	MaxQueuedRecords int `yaml:"max_queued_records"`
	// GroupName overrides the consumer group (replays use
	// logweave-replay-<job>); not configurable in the file.
	GroupName string `yaml:"-"`
}

// Batch is the `batch:` section.
type Batch struct {
	// MaxRecords per write. Default 500.
	MaxRecords int `yaml:"max_records"`
	// MaxBytes of record values per write. Default 5 MiB.
	MaxBytes int `yaml:"max_bytes"`
	// Linger is how long a partition waits for a fuller batch. Default
	// 200ms.
	Linger time.Duration `yaml:"linger"`
}

// RetryPolicy is the `retry:` section.
type RetryPolicy struct {
	// InitialBackoff before the first retry. Default 200ms.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps the exponential backoff. Default 30s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxElapsed gives up on a record after retrying it this long and
	// dead-letters it with reason retries_exhausted. 0 (default) retries
	// forever: a dead destination makes the sink lag, never lose.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// DefaultConfig returns the defaults for a sink called name.
func DefaultConfig(name string) Config {
	return Config{
		Name:             name,
		Start:            "earliest",
		Batch:            Batch{MaxRecords: 500, MaxBytes: 5 << 20, Linger: 200 * time.Millisecond},
		Retry:            RetryPolicy{InitialBackoff: 200 * time.Millisecond, MaxBackoff: 30 * time.Second},
		CommitInterval:   time.Second,
		MaxQueuedRecords: 10000,
	}
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the configuration; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !sinkName.MatchString(c.Name) {
		add("name: %q is not allowed (lowercase letters, digits, '-' and '_', up to 63)", c.Name)
	}
	if _, err := c.StartTime(); err != nil {
		add("start: %v", err)
	}
	if c.Batch.MaxRecords < 1 {
		add("batch.max_records: must be at least 1")
	}
	if c.Batch.MaxBytes < 1024 {
		add("batch.max_bytes: must be at least 1024")
	}
	if c.Batch.Linger < 0 {
		add("batch.linger: must not be negative")
	}
	if c.Retry.InitialBackoff <= 0 {
		add("retry.initial_backoff: must be positive, e.g. 200ms")
	}
	if c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		add("retry.max_backoff: must be at least retry.initial_backoff")
	}
	if c.Retry.MaxElapsed < 0 {
		add("retry.max_elapsed: must not be negative (0 retries forever)")
	}
	if c.CommitInterval <= 0 {
		add("commit_interval: must be positive, e.g. 1s")
	}
	if c.MaxQueuedRecords < c.Batch.MaxRecords {
		add("max_queued_records: must be at least batch.max_records")
	}
	return errors.Join(errs...)
}

// StartTime parses Start: zero time with ok for earliest, a time, or
// latestTime for latest.
func (c *Config) StartTime() (time.Time, error) {
	switch c.Start {
	case "", "earliest":
		return time.Time{}, nil
	case "latest":
		return latestTime, nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.Start)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not earliest, latest or an RFC 3339 time", c.Start)
	}
	return t, nil
}

// latestTime stands for "latest" in StartTime.
var latestTime = time.Unix(1<<62, 0)

// Group is the consumer group of the sink.
func (c *Config) Group() string {
	if c.GroupName != "" {
		return c.GroupName
	}
	return "logweave-sink-" + c.Name
}
