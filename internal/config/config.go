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
	"reflect"
	"slices"
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
	// Default: one file sink called "file" (when the build has the file
	// type).
	Sinks []Sink `yaml:"sinks"`

	// SinkTypes are the destination types of this build (the factories
	// listed in cmd/logweave/components.go); they decode and validate
	// the sections of Sinks. Not part of the file.
	SinkTypes sinks.Factories `yaml:"-"`
}

// Router is the `router:` section.
type Router struct {
	// File holds the routes (see router.Config); it is watched and
	// re-applied on change or SIGHUP. Empty: router.DefaultRoutes().
	File string `yaml:"file"`
	// ReloadInterval between checks of File. Default 2s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Sink is one entry of `sinks:`: the runtime settings, the type, and the
// section named after the type (`file:`, `elasticsearch:`, `loki:`, ...),
// which the type's factory decodes over its defaults.
type Sink struct {
	sinks.Config `yaml:",inline"`
	// Type is the destination: one of the types of the build (file,
	// elasticsearch, loki). Required.
	Type string `yaml:"type"`
	// Settings is the destination's section, made by the type's factory
	// (e.g. *file.Config); nil when the build has no such type. It is
	// written in the file under the type's name.
	Settings sinks.Section `yaml:"-"`

	// The entry's other keys are the destination sections, decoded by
	// Config.decodeSections once the types are known.
	yamlstrict.Open `yaml:",inline"`
	sections        []section
}

// section is one key of a sink entry that is not a runtime setting.
type section struct{ key, value *yaml.Node }

// DefaultSink returns the defaults of a sink entry of type typ.
func (c *Config) DefaultSink(name, typ string) Sink {
	s := Sink{Config: sinks.DefaultConfig(name), Type: typ}
	if f, ok := c.SinkTypes.Get(typ); ok {
		s.Settings = f.DefaultConfig()
	}
	return s
}

// sinkKeys are the keys of a sink entry besides the sections.
var sinkKeys = yamlstrict.Keys(reflect.TypeOf(Sink{}))

// UnmarshalYAML starts every entry from the runtime defaults, so an entry
// only needs the fields it changes, and keeps the sections for
// decodeSections.
func (s *Sink) UnmarshalYAML(n *yaml.Node) error {
	*s = Sink{Config: sinks.DefaultConfig("")}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !slices.Contains(sinkKeys, n.Content[i].Value) {
			s.sections = append(s.sections, section{key: n.Content[i], value: n.Content[i+1]})
		}
	}
	type plain Sink
	return n.Decode((*plain)(s))
}

// MarshalYAML writes the entry as the file has it: the section under the
// type's name.
func (s Sink) MarshalYAML() (any, error) {
	var n yaml.Node
	head := struct {
		sinks.Config `yaml:",inline"`
		Type         string `yaml:"type"`
	}{s.Config, s.Type}
	if err := n.Encode(head); err != nil {
		return nil, err
	}
	if s.Settings != nil {
		var sec yaml.Node
		if err := sec.Encode(s.Settings); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s.Type}, &sec)
	}
	return &n, nil
}

// decodeSections gives every entry of Sinks decoded from the file its
// section: the type's defaults with the file's section decoded over them.
// A section of another known type is checked the same way and then
// ignored, as it always was; any other key is an unknown key.
func (c *Config) decodeSections(getenv func(string) string) error {
	var errs []error
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.Settings == nil {
			if f, ok := c.SinkTypes.Get(s.Type); ok {
				s.Settings = f.DefaultConfig()
			}
		}
		at := fmt.Sprintf("sinks[%d]", i)
		for _, sec := range s.sections {
			f, ok := c.SinkTypes.Get(sec.key.Value)
			if !ok {
				allowed := append(append([]string(nil), sinkKeys...), c.SinkTypes.Types()...)
				slices.Sort(allowed)
				errs = append(errs, yamlstrict.UnknownKey(at, sec.key.Value, sec.key.Line, allowed))
				continue
			}
			dst := f.DefaultConfig()
			if sec.key.Value == s.Type {
				dst = s.Settings
			}
			errs = append(errs, yamlstrict.DecodeNode(sec.value, dst, at+"."+sec.key.Value, getenv))
		}
		s.sections = nil
	}
	return errors.Join(errs...)
}

// Sink returns the sink called name.
func (c *Config) Sink(name string) (Sink, bool) {
	for _, s := range c.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return Sink{}, false
}

// Default returns the configuration used for everything the file omits,
// for a build with the sink types sinkTypes.
func Default(sinkTypes sinks.Factories) Config {
	c := Config{
		Log:             logging.Default(),
		Admin:           admin.Default(),
		ShutdownTimeout: 30 * time.Second,
		Kafka:           kafka.Default(),
		Ingest:          ingest.Default(),
		Enrich:          enrich.DefaultConfig(),
		Router:          Router{ReloadInterval: 2 * time.Second},
		SinkTypes:       sinkTypes,
	}
	if _, ok := sinkTypes.Get("file"); ok {
		c.Sinks = []Sink{c.DefaultSink("file", "file")}
	}
	return c
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
		if s.Settings == nil {
			errs = append(errs, fmt.Errorf("%stype: %q is not allowed (allowed: %s)", at, s.Type, strings.Join(c.SinkTypes.Types(), ", ")))
			continue
		}
		errs = append(errs, prefix(at+s.Type+".", s.Settings.Validate()))
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

// Load reads path (empty for none) for a build with the sink types
// sinkTypes, applies environment overrides from getenv (os.Getenv when
// nil), then each apply function in order (command line flags), and
// validates the result.
func Load(path string, sinkTypes sinks.Factories, getenv func(string) string, apply ...func(*Config)) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Default(sinkTypes)
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

// Parse decodes YAML into cfg, which holds the defaults and the sink
// types: keys the document omits keep their value. Environment references
// are expanded with getenv.
func Parse(b []byte, cfg *Config, getenv func(string) string) error {
	if err := yamlstrict.Decode(b, cfg, getenv); err != nil {
		return err
	}
	return cfg.decodeSections(getenv)
}

// Redacted returns the configuration as YAML with every secret field
// (tagged `secret:"true"`) that is set replaced by "[redacted]".
func (c Config) Redacted() string {
	c.SinkTypes = nil
	v := redact(c)
	b, err := yaml.Marshal(v)
	if err != nil {
		return "# marshalling config: " + err.Error()
	}
	return strings.TrimRight(string(b), "\n") + "\n"
}
