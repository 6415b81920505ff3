package bench

import (
	"errors"
	"fmt"
	"time"
)

// Config is what `logweave bench` runs.
type Config struct {
	// Binary is the logweave executable started for every role. Default:
	// the running executable.
	Binary string
	// Submissions of the workload. Default 50000.
	Submissions int
	// BatchSubmissions is how many submissions go in one OTLP request (a
	// traces request and a logs request per batch). Default 25.
	BatchSubmissions int
	// LogsPerStage per stage span (4 stages). Default 5, so 20 logs and 5
	// spans (4 stages and the root) per submission.
	LogsPerStage int
	// Senders is the number of concurrent HTTP clients feeding ingest.
	// Default 4.
	Senders int
	// Partitions of logweave.raw and logweave.enriched. Default 4.
	Partitions int
	// Sinks to run: any of "file", "es" and "loki". Default file and es.
	Sinks []string
	// LokiBin is the Loki binary the loki sink pushes to (started per
	// round, its CPU not counted as the sink's); without one the loki
	// row is skipped with a message. Default: none (the command line
	// passes $LOGWEAVE_LOKI_BIN).
	LokiBin string
	// Dir holds the run's configuration, the children's logs and the
	// file sink's output. Default: a new temporary directory, removed
	// at the end.
	Dir string
	// ProfileDir, when set, makes every child write a CPU profile and an
	// allocation profile there (LOGWEAVE_PROFILE_DIR).
	ProfileDir string
	// Rounds repeats the enrich and sink measurements on the same data
	// (each round with fresh consumer groups), to show the spread.
	// Default 1.
	Rounds int
	// RulesFile for enrich; empty: the default rules.
	RulesFile string
	// KeepAll runs enrich with head sampling at rate 1 for every level
	// (RulesFile must be empty), so that the sinks get every record.
	// Default false: the default rules keep about 12% of this workload.
	KeepAll bool
	// IngestOnly stops each round after ingest.
	IngestOnly bool
	// IngestSettings are YAML lines added to the children's `ingest:`
	// section (e.g. "compression: lz4"), to measure ingest's settings.
	// Default none.
	IngestSettings []string
	// Timeout bounds each role's run. Default 10m.
	Timeout time.Duration
	// Base is the event time of the first submission. Default: now
	// truncated to the minute.
	Base time.Time
}

// Default returns the workload of issue 16.
func Default() Config {
	return Config{
		Submissions: 50000, BatchSubmissions: 25, LogsPerStage: 5, Senders: 4, Partitions: 4,
		Sinks: []string{"file", "es"}, Rounds: 1, Timeout: 10 * time.Minute,
	}
}

// Validate checks the configuration; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Submissions < 1 {
		errs = append(errs, fmt.Errorf("submissions: %d, must be at least 1", c.Submissions))
	}
	if c.BatchSubmissions < 1 {
		errs = append(errs, fmt.Errorf("batch: %d, must be at least 1", c.BatchSubmissions))
	}
	if c.LogsPerStage < 0 {
		errs = append(errs, fmt.Errorf("logs-per-stage: %d, must not be negative", c.LogsPerStage))
	}
	if c.Senders < 1 {
		errs = append(errs, fmt.Errorf("senders: %d, must be at least 1", c.Senders))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions: %d, must be at least 1", c.Partitions))
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("rounds: %d, must be at least 1", c.Rounds))
	}
	for _, s := range c.Sinks {
		if s != "file" && s != "es" && s != "loki" {
			errs = append(errs, fmt.Errorf("sinks: %q is not allowed (allowed: file, es, loki)", s))
		}
	}
	if c.KeepAll && c.RulesFile != "" {
		errs = append(errs, errors.New("keep-all: not allowed with rules"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	return errors.Join(errs...)
}
