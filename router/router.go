package router

import (
	"strings"
	"sync/atomic"

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
	when *condition.Condition // match given as a condition, or nil
	// lists says whether the list form names any field: an empty match
	// reads nothing.
	lists  bool
	index  *cachedPattern
	tenant *cachedPattern // nil without a tenant pattern
}

// Need says which parts of a Destination a sink reads; the router leaves
// the others empty. Labels, metadata and an index rendered per record are
// most of routing's cost, and only Loki reads labels and metadata.
type Need uint8

// The parts of a Destination.
const (
	NeedIndex Need = 1 << iota
	NeedLabels
	NeedMetadata
	NeedTenant
	NeedAll = NeedIndex | NeedLabels | NeedMetadata | NeedTenant
)

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
		index, _ := parsePattern(c.Index)
		c.index = newCachedPattern(index, indexSafe)
		if tenant, _ := parsePattern(c.Tenant); len(tenant) > 0 {
			c.tenant = newCachedPattern(tenant, asIs)
		}
		m := &rt.Match
		c.lists = len(m.Kind)+len(m.Level)+len(m.Service)+len(m.LogType)+len(m.Tenant)+len(m.KeptBy)+len(m.Attributes) > 0
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
	return r.RouteNeeding(sink, NeedAll, rec)
}

// RouteNeeding is Route filling only the parts of the Destination in need
// (Route is always filled).
func (r *Router) RouteNeeding(sink string, need Need, rec *v1.EnrichedRecord) (Destination, bool) {
	var s Scratch
	return r.RouteScratch(&s, sink, need, rec)
}

// Scratch is the per-record state of routing (the record's field view),
// which escapes to the heap: a caller routing many records, one at a time,
// keeps one Scratch and passes it to RouteScratch to save that allocation
// per record. Not for concurrent use; it holds the last record routed
// until the next.
type Scratch struct{ f condition.Record }

// RouteScratch is RouteNeeding using s for its per-record state.
func (r *Router) RouteScratch(s *Scratch, sink string, need Need, rec *v1.EnrichedRecord) (Destination, bool) {
	s.f = condition.EnrichedRecord(rec)
	f := &s.f
	t := r.table.Load()
	for i := range t.routes {
		c := &t.routes[i]
		if !appliesTo(c.Sinks, sink) || !c.matches(f) {
			continue
		}
		if c.Drop {
			return Destination{Route: c.Name}, false
		}
		return c.destination(rec, f, need), true
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

func (c *compiled) destination(rec *v1.EnrichedRecord, f *condition.Record, need Need) Destination {
	d := Destination{Route: c.Name}
	at := rec.GetRecord().EventTimeUnixNano()
	if need&NeedIndex != 0 {
		d.Index = c.index.render(f, at)
	}
	if need&NeedTenant != 0 && c.tenant != nil {
		d.Tenant = c.tenant.render(f, at)
	}
	var labels []Label
	if n := len(c.Labels)*int(need&NeedLabels/NeedLabels) + len(c.Metadata)*int(need&NeedMetadata/NeedMetadata); n > 0 {
		labels = make([]Label, 0, n) // one allocation for both
	}
	if need&NeedLabels != 0 {
		for _, l := range c.Labels {
			if v := f.Text(l); v != "" {
				labels = append(labels, Label{Name: l, Value: v})
			}
		}
		if len(labels) > 0 {
			d.Labels = labels[:len(labels):len(labels)]
			sortLabels(d.Labels)
			labels = labels[len(labels):]
		}
	}
	if need&NeedMetadata != 0 {
		for _, m := range c.Metadata {
			if v := f.Text(m); v != "" {
				labels = append(labels, Label{Name: m, Value: v})
			}
		}
		if len(labels) > 0 {
			d.Metadata = labels
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
	if !c.lists {
		return true
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
