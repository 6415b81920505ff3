package router

import (
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
		t.routes = append(t.routes, c)
	}
	r.table.Store(t)
	return nil
}

// Route returns where sink writes rec, and false when the sink skips it.
func (r *Router) Route(sink string, rec *v1.EnrichedRecord) (Destination, bool) {
	f := fields{rec: rec}
	t := r.table.Load()
	for i := range t.routes {
		c := &t.routes[i]
		if !appliesTo(c.Sinks, sink) || !c.Match.matches(&f) {
			continue
		}
		if c.Drop {
			return Destination{Route: c.Name}, false
		}
		return c.destination(&f), true
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

func (c *compiled) destination(f *fields) Destination {
	at := time.Unix(0, int64(f.rec.GetRecord().EventTimeUnixNano()))
	d := Destination{Route: c.Name, Index: c.index.render(f.get, at, indexSafe)}
	if len(c.tenant) > 0 {
		d.Tenant = c.tenant.render(f.get, at, asIs)
	}
	for _, l := range c.Labels {
		if v := f.get(l); v != "" {
			d.Labels = append(d.Labels, Label{Name: l, Value: v})
		}
	}
	sortLabels(d.Labels)
	for _, m := range c.Metadata {
		if v := f.get(m); v != "" {
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

func (m *Match) matches(f *fields) bool {
	return matchAny(m.Kind, f.get("kind")) && matchAny(m.Level, f.get("level")) &&
		matchAny(m.Service, f.get("service")) && matchAny(m.LogType, f.get("log_type")) &&
		matchAny(m.Tenant, f.get("tenant")) && matchAny(m.KeptBy, f.get("kept_by")) && m.matchAttrs(f)
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

func (m *Match) matchAttrs(f *fields) bool {
	for k, want := range m.Attributes {
		got, ok := v1.Attr(f.rec.GetRecord().Attributes(), k)
		if !ok || !matchAny([]string{want}, got.Text()) {
			return false
		}
	}
	return true
}

// fields reads routing fields of a record.
type fields struct {
	rec *v1.EnrichedRecord
}

func (f *fields) get(name string) string {
	env := f.rec.GetRecord()
	sub := f.rec.SubmissionContext()
	switch name {
	case "kind":
		return env.Kind()
	case "service":
		return env.Service()
	case "level":
		return env.Level()
	case "namespace":
		return env.Resource().GetNamespace()
	case "cluster":
		return env.Resource().GetCluster()
	case "node":
		return env.Resource().GetNode()
	case "pod":
		return env.Resource().GetPod()
	case "container":
		return env.Resource().GetContainer()
	case "log_type":
		if l := env.GetLog(); l != nil {
			return l.GetLogType().Name()
		}
		return ""
	case "stage":
		return f.rec.Stage().Name()
	case "tenant":
		for _, k := range []string{"tenant", "tenant.id"} {
			if v, ok := v1.Attr(env.Attributes(), k); ok {
				return v.Text()
			}
			if v, ok := v1.Attr(env.Resource().GetAttributes(), k); ok {
				return v.Text()
			}
		}
		return ""
	case "kept_by":
		return f.rec.GetSampling().GetKeptBy()
	case "submit_id":
		return sub.GetSubmitId()
	case "user_id":
		return sub.GetUserId()
	case "problem_id":
		return sub.GetProblemId()
	case "lang":
		return sub.GetLang()
	case "submission_seq":
		if sub == nil || sub.SubmissionSeq == nil {
			return ""
		}
		return strconv.FormatUint(uint64(sub.GetSubmissionSeq()), 10)
	case "record_id":
		return f.rec.GetRecordId()
	case "trace_id":
		return hexOrEmpty(env.TraceID())
	case "span_id":
		if l := env.GetLog(); l != nil {
			return hexOrEmpty(l.GetSpanId())
		}
		return hexOrEmpty(env.GetSpan().GetSpanId())
	case "parent_span_id":
		if sp := env.GetSpan(); sp != nil {
			return hexOrEmpty(sp.GetParentSpanId())
		}
		return hexOrEmpty(f.rec.GetSpan().GetParentSpanId())
	}
	return ""
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}
