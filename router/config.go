package router

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/logweave/logweave/condition"
	"github.com/logweave/logweave/internal/yamlstrict"
)

// Config is the routes file (or the `router:` section).
type Config struct {
	// Routes in order. Default: DefaultRoutes().
	Routes []Route `yaml:"routes"`
}

// Route is one route.
type Route struct {
	// Name identifies the route in logs and metrics. Required, unique.
	Name string `yaml:"name"`
	// Match selects records; an empty match takes everything.
	Match Match `yaml:"match"`
	// Sinks are the sink names the route applies to; "*" is every sink.
	Sinks []string `yaml:"sinks"`
	// Drop makes the listed sinks skip matching records.
	Drop bool `yaml:"drop"`
	// Index is the Elasticsearch index (or data stream) pattern:
	// {field} and date tokens like {yyyy.MM.dd} of the event time (UTC).
	// Default "logweave-{kind}-{yyyy.MM.dd}".
	Index string `yaml:"index"`
	// Labels are the Loki stream labels, from a small low-cardinality set.
	// Default service, level, namespace, cluster, log_type.
	Labels []string `yaml:"labels"`
	// Metadata are the Loki structured metadata fields. Default trace_id,
	// span_id, submit_id, user_id, stage, record_id.
	Metadata []string `yaml:"metadata"`
	// Tenant is a pattern for the tenant (Loki X-Scope-OrgID); "" for
	// none. Default "".
	Tenant string `yaml:"tenant"`
}

// Match selects records, in one of two forms. A string is a condition in
// the language of the sampling rules (package condition), e.g.
// `kind == "span" and level >= warn`. A mapping lists values per field:
// within a field any listed value matches (a trailing * matches a prefix);
// all fields given must match.
type Match struct {
	// When is the condition, when match: is a string.
	When string `yaml:"-"`

	Kind    []string `yaml:"kind"`
	Level   []string `yaml:"level"`
	Service []string `yaml:"service"`
	LogType []string `yaml:"log_type"`
	// Tenant matches the record's tenant: the resource or record attribute
	// tenant / tenant.id.
	Tenant []string `yaml:"tenant"`
	KeptBy []string `yaml:"kept_by"`
	// Attributes match record attributes by key, compared as text.
	Attributes map[string]string `yaml:"attributes"`
}

// UnmarshalYAML reads a string as the condition and a mapping as the list
// form.
func (m *Match) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*m = Match{When: n.Value}
		return nil
	}
	type lists Match // without this method
	return n.Decode((*lists)(m))
}

// Defaults of a route's fields.
var (
	DefaultIndex    = "logweave-{kind}-{yyyy.MM.dd}"
	DefaultLabels   = []string{"service", "level", "namespace", "cluster", "log_type"}
	DefaultMetadata = []string{"trace_id", "span_id", "submit_id", "user_id", "stage", "record_id"}
)

// DefaultRoutes send logs and spans to every sink except that the Loki sink
// ("loki") takes logs only.
func DefaultRoutes() []Route {
	return []Route{
		{Name: "loki-logs-only", Match: Match{Kind: []string{"span"}}, Sinks: []string{"loki"}, Drop: true},
		{Name: "default", Sinks: []string{"*"}},
	}
}

// Default returns the default routes.
func Default() Config { return Config{Routes: DefaultRoutes()} }

// Label sources Loki may index (low cardinality), and metadata sources.
var (
	labelFields    = []string{"service", "level", "namespace", "cluster", "log_type", "kind", "stage", "tenant", "node", "container"}
	metadataFields = []string{"trace_id", "span_id", "submit_id", "user_id", "problem_id", "submission_seq", "stage", "record_id", "kept_by", "pod", "lang", "parent_span_id"}
	// patternFields may appear as {field} in index and tenant patterns.
	patternFields = []string{"kind", "service", "level", "namespace", "cluster", "log_type", "stage", "tenant", "node", "pod", "container"}
	matchKinds    = []string{"log", "span"}
	matchLevels   = []string{"trace", "debug", "info", "warn", "error", "fatal", "unknown"}
	matchLogTypes = []string{"app", "audit", "event"}
	lokiLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// maxLabels is Loki's default max_label_names_per_series.
const maxLabels = 15

// Load reads a routes file; an empty path gives the defaults.
func Load(path string) (Config, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading routes: %w", err)
	}
	cfg, err := Parse(b)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates a routes document.
func Parse(b []byte) (Config, error) {
	var cfg Config
	if err := yamlstrict.Decode(b, &cfg, os.Getenv); err != nil {
		return cfg, err
	}
	if len(cfg.Routes) == 0 {
		cfg.Routes = DefaultRoutes()
	}
	return cfg, cfg.Validate()
}

// Validate checks every route; errors name the route and field.
func (c *Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i := range c.Routes {
		r := &c.Routes[i]
		at := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			at = fmt.Sprintf("routes[%d] (%s)", i, r.Name)
		}
		add := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(at+"."+format, args...))
		}
		switch {
		case r.Name == "":
			add("name: required")
		case names[r.Name]:
			add("name: %q is used by another route", r.Name)
		}
		names[r.Name] = true
		if len(r.Sinks) == 0 {
			add("sinks: at least one sink name (or \"*\") required")
		}
		if r.Match.When != "" {
			if _, err := condition.Compile(r.Match.When); err != nil {
				add("match: %v", err)
			}
		}
		for _, e := range checkValues("match.kind", r.Match.Kind, matchKinds) {
			add("%s", e)
		}
		for _, e := range checkValues("match.level", r.Match.Level, matchLevels) {
			add("%s", e)
		}
		for _, e := range checkValues("match.log_type", r.Match.LogType, matchLogTypes) {
			add("%s", e)
		}
		if r.Index != "" {
			if err := checkIndexPattern(r.Index); err != nil {
				add("index: %v", err)
			}
		}
		if r.Tenant != "" {
			if _, err := parsePattern(r.Tenant); err != nil {
				add("tenant: %v", err)
			}
		}
		if len(r.Labels) > maxLabels {
			add("labels: %d labels, more than Loki's default limit of %d per stream", len(r.Labels), maxLabels)
		}
		seen := map[string]bool{}
		for _, l := range r.Labels {
			switch {
			case !lokiLabelName.MatchString(l) || strings.HasPrefix(l, "__"):
				add("labels: %q is not a valid Loki label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", l)
			case !contains(labelFields, l):
				add("labels: %q is not allowed as a label (high cardinality or unknown); allowed: %s; put ids in metadata", l, strings.Join(labelFields, ", "))
			case seen[l]:
				add("labels: %q listed twice", l)
			}
			seen[l] = true
		}
		for _, m := range r.Metadata {
			if !contains(metadataFields, m) {
				add("metadata: %q is not a known field; allowed: %s", m, strings.Join(metadataFields, ", "))
			}
		}
	}
	return errors.Join(errs...)
}

func checkValues(field string, got, allowed []string) []string {
	var out []string
	for _, v := range got {
		if !contains(allowed, v) {
			out = append(out, fmt.Sprintf("%s: %q is not allowed (allowed: %s)", field, v, strings.Join(allowed, ", ")))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
