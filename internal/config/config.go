// Package config loads the one YAML file that configures every logweave
// role. Precedence, lowest first: Default(), the file, LOGWEAVE_* environment
// overrides, then command-line flags applied by cmd/logweave.
//
// The file may use ${VAR} and ${VAR:-default} in any value; $$ is a literal
// dollar sign. Unknown keys are errors, and every error names the field.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/internal/admin"
	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/internal/logging"
	"github.com/logweave/logweave/internal/yamlstrict"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/file"
	"github.com/logweave/logweave/sinks/loki"
)

// Config is the whole logweave configuration file.
type Config struct {
	// Log configures the process logger.
	Log logging.Config `yaml:"log"`
	// Admin configures the /metrics, /healthz and /readyz server.
	Admin admin.Config `yaml:"admin"`
	// ShutdownTimeout bounds a graceful shutdown after SIGINT or SIGTERM;
	// a second signal or the deadline exits at once. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Kafka configures the brokers and topics.
	Kafka kafka.Config `yaml:"kafka"`
	// Ingest configures the OTLP/HTTP and NDJSON receiver.
	Ingest ingest.Config `yaml:"ingest"`
	// Enrich configures the join and sampling stage.
	Enrich enrich.Config `yaml:"enrich"`
	// Router says which sinks take which records and how.
	Router Router `yaml:"router"`
	// Sinks are the destinations, each run by `logweave sink --name`.
	// Default: one file sink called "file".
	Sinks []Sink `yaml:"sinks"`
}

// Router is the `router:` section.
type Router struct {
	// File holds the routes (see router.Config); it is watched and
	// re-applied on change or SIGHUP. Empty: router.DefaultRoutes().
	File string `yaml:"file"`
	// ReloadInterval between checks of File. Default 2s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Sink is one entry of `sinks:`: the runtime settings plus the section of
// its type.
type Sink struct {
	sinks.Config `yaml:",inline"`
	// Type is the destination: file.
	Type string `yaml:"type"`
	// File configures a file sink.
	File file.Config `yaml:"file"`
	// Elasticsearch configures an elasticsearch sink.
	Elasticsearch elasticsearch.Config `yaml:"elasticsearch"`
	// Loki configures a loki sink.
	Loki loki.Config `yaml:"loki"`
}

// DefaultSink returns the defaults of a sink entry.
func DefaultSink(name, typ string) Sink {
	return Sink{Config: sinks.DefaultConfig(name), Type: typ, File: file.Default(), Elasticsearch: elasticsearch.Default(), Loki: loki.Default()}
}

// UnmarshalYAML starts every entry from the defaults, so an entry only
// needs the fields it changes.
func (s *Sink) UnmarshalYAML(n *yaml.Node) error {
	*s = DefaultSink("", "")
	type plain Sink
	return n.Decode((*plain)(s))
}

// SinkTypes are the sink types this build has.
var SinkTypes = []string{"file", "elasticsearch", "loki"}

// Sink returns the sink called name.
func (c *Config) Sink(name string) (Sink, bool) {
	for _, s := range c.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return Sink{}, false
}

// Default returns the configuration used for everything the file omits.
func Default() Config {
	return Config{
		Log:             logging.Default(),
		Admin:           admin.Default(),
		ShutdownTimeout: 30 * time.Second,
		Kafka:           kafka.Default(),
		Ingest:          ingest.Default(),
		Enrich:          enrich.DefaultConfig(),
		Router:          Router{ReloadInterval: 2 * time.Second},
		Sinks:           []Sink{DefaultSink("file", "file")},
	}
}

// Validate checks every section. The error joins one line per problem,
// each starting with the full field path.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, prefix("log.", c.Log.Validate()))
	errs = append(errs, prefix("admin.", c.Admin.Validate()))
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout: must be positive, e.g. 30s"))
	}
	errs = append(errs, prefix("kafka.", c.Kafka.Validate()))
	errs = append(errs, prefix("ingest.", c.Ingest.Validate()))
	errs = append(errs, prefix("enrich.", c.Enrich.Validate()))
	if c.Router.ReloadInterval <= 0 {
		errs = append(errs, errors.New("router.reload_interval: must be positive, e.g. 2s"))
	}
	if c.Router.File != "" {
		if _, err := router.Load(c.Router.File); err != nil {
			errs = append(errs, fmt.Errorf("router.file: %w", err))
		}
	}
	names := map[string]bool{}
	for i, s := range c.Sinks {
		at := fmt.Sprintf("sinks[%d].", i)
		errs = append(errs, prefix(at, s.Config.Validate()))
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("%sname: %q is used by another sink", at, s.Name))
		}
		names[s.Name] = true
		switch s.Type {
		case "file":
			errs = append(errs, prefix(at+"file.", s.File.Validate()))
		case "elasticsearch":
			errs = append(errs, prefix(at+"elasticsearch.", s.Elasticsearch.Validate()))
		case "loki":
			errs = append(errs, prefix(at+"loki.", s.Loki.Validate()))
		default:
			errs = append(errs, fmt.Errorf("%stype: %q is not allowed (allowed: %s)", at, s.Type, strings.Join(SinkTypes, ", ")))
		}
	}
	return errors.Join(errs...)
}

// prefix puts p in front of every joined error of err.
func prefix(p string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, prefix(p, e))
		}
		return errors.Join(out...)
	}
	return &prefixed{p: p, err: err}
}

type prefixed struct {
	p   string
	err error
}

func (e *prefixed) Error() string { return e.p + e.err.Error() }
func (e *prefixed) Unwrap() error { return e.err }

// Load reads path (empty for none), applies environment overrides from
// getenv (os.Getenv when nil), then each apply function in order (command
// line flags), and validates the result.
func Load(path string, getenv func(string) string, apply ...func(*Config)) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("reading config: %w", err)
		}
		if err := Parse(b, &cfg, getenv); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := applyOverrides(&cfg, getenv); err != nil {
		return cfg, err
	}
	for _, fn := range apply {
		if fn != nil {
			fn(&cfg)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Parse decodes YAML into cfg, which holds the defaults: keys the document
// omits keep their value. Environment references are expanded with getenv.
func Parse(b []byte, cfg *Config, getenv func(string) string) error {
	return yamlstrict.Decode(b, cfg, getenv)
}

// Redacted returns the configuration as YAML with every secret field
// (tagged `secret:"true"`) that is set replaced by "[redacted]".
func (c Config) Redacted() string {
	v := redact(c)
	b, err := yaml.Marshal(v)
	if err != nil {
		return "# marshalling config: " + err.Error()
	}
	return strings.TrimRight(string(b), "\n") + "\n"
}
