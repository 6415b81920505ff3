package router

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/logweave/logweave/condition"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Label is a name and value, for Loki labels and structured metadata.
type Label struct {
	Name, Value string
}

// Destination is how one sink writes one record.
type Destination struct {
	Route    string
	Index    string
	Labels   []Label // sorted by name, empty values left out
	Metadata []Label // in configured order, empty values left out
	Tenant   string
}

// Router routes records. It is safe for concurrent use; Reload swaps the
// routes atomically.
type Router struct {
	table atomic.Pointer[table]
}

type compiled struct {
	Route
	when   *condition.Condition // match given as a condition, or nil
	index  pattern
	tenant pattern
}

type table struct {
	routes []compiled
}

// New validates cfg and returns a router.
func New(cfg Config) (*Router, error) {
	r := &Router{}
	if err := r.Reload(cfg); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload validates cfg and, when valid, replaces the routes; otherwise the
// old routes stay.
func (r *Router) Reload(cfg Config) error {
	if len(cfg.Routes) == 0 {
		cfg.Routes = DefaultRoutes()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	t := &table{}
	for _, rt := range cfg.Routes {
		c := compiled{Route: rt}
		if c.Index == "" {
			c.Index = DefaultIndex
		}
		if c.Labels == nil {
			c.Labels = DefaultLabels
		}
		if c.Metadata == nil {
			c.Metadata = DefaultMetadata
		}
		c.index, _ = parsePattern(c.Index)
		c.tenant, _ = parsePattern(c.Tenant)
		if rt.Match.When != "" {
			c.when, _ = condition.Compile(rt.Match.When)
		}
		t.routes = append(t.routes, c)
	}
	r.table.Store(t)
	return nil
}

// Route returns where sink writes rec, and false when the sink skips it.
func (r *Router) Route(sink string, rec *v1.EnrichedRecord) (Destination, bool) {
	f := condition.EnrichedRecord(rec)
	t := r.table.Load()
	for i := range t.routes {
		c := &t.routes[i]
		if !appliesTo(c.Sinks, sink) || !c.matches(&f) {
			continue
		}
		if c.Drop {
			return Destination{Route: c.Name}, false
		}
		return c.destination(rec, &f), true
	}
	return Destination{}, false
}

func appliesTo(sinks []string, sink string) bool {
	for _, s := range sinks {
		if s == "*" || s == sink {
			return true
		}
	}
	return false
}

func (c *compiled) destination(rec *v1.EnrichedRecord, f *condition.Record) Destination {
	at := time.Unix(0, int64(rec.GetRecord().EventTimeUnixNano()))
	d := Destination{Route: c.Name, Index: c.index.render(f.Text, at, indexSafe)}
	if len(c.tenant) > 0 {
		d.Tenant = c.tenant.render(f.Text, at, asIs)
	}
	for _, l := range c.Labels {
		if v := f.Text(l); v != "" {
			d.Labels = append(d.Labels, Label{Name: l, Value: v})
		}
	}
	sortLabels(d.Labels)
	for _, m := range c.Metadata {
		if v := f.Text(m); v != "" {
			d.Metadata = append(d.Metadata, Label{Name: m, Value: v})
		}
	}
	return d
}

func sortLabels(ls []Label) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// matches says whether the route takes the record: its condition, or
// the list form (sugar for the condition every listed field matching).
func (c *compiled) matches(f *condition.Record) bool {
	if c.when != nil {
		return c.when.Eval(f)
	}
	m := &c.Match
	return matchAny(m.Kind, f.Text("kind")) && matchAny(m.Level, f.Text("level")) &&
		matchAny(m.Service, f.Text("service")) && matchAny(m.LogType, f.Text("log_type")) &&
		matchAny(m.Tenant, f.Text("tenant")) && matchAny(m.KeptBy, f.Text("kept_by")) && m.matchAttrs(f)
}

func matchAny(want []string, got string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if p, ok := strings.CutSuffix(w, "*"); ok && strings.HasPrefix(got, p) || w == got {
			return true
		}
	}
	return false
}

func (m *Match) matchAttrs(f *condition.Record) bool {
	for k, want := range m.Attributes {
		got, ok := f.Attr(k)
		if !ok || !matchAny([]string{want}, got.Text()) {
			return false
		}
	}
	return true
}
