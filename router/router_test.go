package router

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/condition"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func logRec(level v1.SeverityNumber, service string, attrs ...*v1.KeyValue) *v1.EnrichedRecord {
	seq := uint32(7)
	return &v1.EnrichedRecord{
		RecordId: "r1",
		Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{
			// 2026-12-31T23:59:59Z: the index date must come from here.
			TimeUnixNano: 1798761599_000000000, SeverityNumber: level, Service: service, TraceId: []byte{0xab, 0xcd}, SpanId: []byte{0x01},
			Resource:   &v1.Resource{Namespace: "OJ Prod", Cluster: "eu-1", Attributes: []*v1.KeyValue{{Key: "tenant.id", Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "acme"}}}}},
			LogType:    v1.LogType_LOG_TYPE_AUDIT,
			Attributes: attrs,
		}}},
		Submission: &v1.Submission{SubmitId: "S1", UserId: "U9", SubmissionSeq: &seq, Stage: v1.Stage_STAGE_JUDGE},
		Sampling:   &v1.Sampling{KeptBy: "head:0.5"},
	}
}

func spanRec() *v1.EnrichedRecord {
	return &v1.EnrichedRecord{RecordId: "r2", Record: &v1.Envelope{Record: &v1.Envelope_Span{Span: &v1.Span{
		StartTimeUnixNano: 1798761599_000000000, Service: "judge", Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_ERROR},
	}}}, Sampling: &v1.Sampling{KeptBy: "error"}}
}

func intAttr(k string, v int64) *v1.KeyValue {
	return &v1.KeyValue{Key: k, Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: v}}}
}

func mustRouter(t *testing.T, yaml string) *Router {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoute_Defaults(t *testing.T) {
	r, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	d, ok := r.Route("es", logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge"))
	if !ok || d.Index != "logweave-log-2026.12.31" || d.Route != "default" {
		t.Errorf("es log: %+v %v", d, ok)
	}
	if d, ok := r.Route("es", spanRec()); !ok || d.Index != "logweave-span-2026.12.31" {
		t.Errorf("es span: %+v %v", d, ok)
	}
	if _, ok := r.Route("loki", spanRec()); ok {
		t.Errorf("loki took a span")
	}
	d, ok = r.Route("loki", logRec(v1.SeverityNumber_SEVERITY_NUMBER_WARN, "judge"))
	if !ok {
		t.Fatal("loki skipped a log")
	}
	wantLabels := []Label{{"cluster", "eu-1"}, {"level", "warn"}, {"log_type", "audit"}, {"namespace", "OJ Prod"}, {"service", "judge"}}
	if !equalLabels(d.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", d.Labels, wantLabels)
	}
	wantMeta := []Label{{"trace_id", "abcd"}, {"span_id", "01"}, {"submit_id", "S1"}, {"user_id", "U9"}, {"stage", "judge"}, {"record_id", "r1"}}
	if !equalLabels(d.Metadata, wantMeta) {
		t.Errorf("metadata = %v, want %v", d.Metadata, wantMeta)
	}
}

func equalLabels(a, b []Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoute_MatchConditions(t *testing.T) {
	r := mustRouter(t, `
routes:
  - {name: kind, match: {kind: [span]}, sinks: [s], index: "by-kind"}
  - {name: level, match: {level: [error, fatal]}, sinks: [s], index: "by-level"}
  - {name: service, match: {service: ["comp*"]}, sinks: [s], index: "by-service"}
  - {name: logtype, match: {log_type: [event]}, sinks: [s], index: "by-logtype"}
  - {name: tenant, match: {tenant: [globex]}, sinks: [s], index: "by-tenant"}
  - {name: keptby, match: {kept_by: ["tail:*", crash]}, sinks: [s], index: "by-keptby"}
  - {name: attrs, match: {attributes: {http.status_code: "504"}}, sinks: [s], index: "by-attr"}
  - {name: rest, sinks: [s], index: "rest"}
`)
	globex := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")
	globex.Record.GetLog().Resource.Attributes[0].Value = &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "globex"}}
	event := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")
	event.Record.GetLog().LogType = v1.LogType_LOG_TYPE_EVENT
	crash := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")
	crash.Sampling.KeptBy = "crash"
	cases := []struct {
		rec  *v1.EnrichedRecord
		want string
	}{
		{spanRec(), "by-kind"},
		{logRec(v1.SeverityNumber_SEVERITY_NUMBER_FATAL, "judge"), "by-level"},
		{logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "compiler"), "by-service"},
		{event, "by-logtype"},
		{globex, "by-tenant"},
		{crash, "by-keptby"},
		{logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge", intAttr("http.status_code", 504)), "by-attr"},
		{logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge", intAttr("http.status_code", 200)), "rest"},
	}
	for _, c := range cases {
		d, ok := r.Route("s", c.rec)
		if !ok || d.Index != c.want {
			t.Errorf("want %s, got %+v %v", c.want, d, ok)
		}
		if _, ok := r.Route("other", c.rec); ok {
			t.Errorf("a sink no route lists took a record")
		}
	}
}

func TestRoute_IndexAndTenantPatterns(t *testing.T) {
	r := mustRouter(t, `
routes:
  - name: es
    sinks: [es]
    index: "oj-{kind}-{namespace}-{service}-{yyyy.MM}"
    tenant: "{tenant}-{cluster}"
`)
	d, ok := r.Route("es", logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "Judge/Runner"))
	// Field values are lowercased and made safe; the date is the event
	// time's, not the wall clock's.
	if !ok || d.Index != "oj-log-oj_prod-judge_runner-2026.12" || d.Tenant != "acme-eu-1" {
		t.Errorf("destination = %+v", d)
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"routes: [{name: a, sinks: [x], labels: [submit_id]}]", `routes[0] (a).labels: "submit_id" is not allowed as a label (high cardinality or unknown)`},
		{"routes: [{name: a, sinks: [x], labels: [__name__]}]", `routes[0] (a).labels: "__name__" is not a valid Loki label name`},
		{"routes: [{name: a, sinks: [x], labels: [service, service]}]", `routes[0] (a).labels: "service" listed twice`},
		{"routes: [{name: a, sinks: [x], index: 'Logs-{kind}'}]", `routes[0] (a).index: "Logs-{kind}": index names must be lowercase`},
		{"routes: [{name: a, sinks: [x], index: 'logs {kind}'}]", `routes[0] (a).index: "logs {kind}": ' ' is not allowed in an index name`},
		{"routes: [{name: a, sinks: [x], index: '_logs'}]", `must not start with '-', '_', '+' or '.'`},
		{"routes: [{name: a, sinks: [x], index: 'logs-{user_id}'}]", `{user_id} is neither a field`},
		{"routes: [{name: a, sinks: [x], index: 'logs-{yyyy.MM.dd'}]", `unterminated {`},
		{"routes: [{name: a, sinks: [x], match: {kind: [metric]}}]", `routes[0] (a).match.kind: "metric" is not allowed (allowed: log, span)`},
		{"routes: [{name: a, sinks: [x], metadata: [password]}]", `routes[0] (a).metadata: "password" is not a known field`},
		{"routes: [{name: a}]", `routes[0] (a).sinks: at least one sink name`},
		{"routes: [{name: a, sinks: [x]}, {name: a, sinks: [y]}]", `routes[1] (a).name: "a" is used by another route`},
		{"routes: [{name: a, sinks: [x], indx: foo}]", `routes[0].indx: unknown key`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n got: %v\nwant: %s", tt.yaml, err, tt.want)
		}
	}
}

func TestReload_BadConfigKeepsOld(t *testing.T) {
	r := mustRouter(t, "routes: [{name: a, sinks: [es], index: one}]")
	rec := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")
	good, _ := Parse([]byte("routes: [{name: b, sinks: [es], index: two}]"))
	if err := r.Reload(good); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.Route("es", rec); d.Index != "two" {
		t.Errorf("after reload index = %q", d.Index)
	}
	bad := Config{Routes: []Route{{Name: "c", Sinks: []string{"es"}, Index: "BAD"}}}
	if err := r.Reload(bad); err == nil {
		t.Fatal("bad routes accepted")
	}
	if d, _ := r.Route("es", rec); d.Index != "two" {
		t.Errorf("bad reload changed routing: %q", d.Index)
	}
}

func TestLoad_ExampleRoutes(t *testing.T) {
	cfg, err := Load("../deploy/routes.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	audit := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")
	if d, ok := r.Route("es", audit); !ok || d.Index != "logweave-audit-2026.12" {
		t.Errorf("audit log to es: %+v %v", d, ok)
	}
	if _, ok := r.Route("loki", spanRec()); ok {
		t.Errorf("loki took a span")
	}
}

// A bytes attribute is matched by its text in the vocabulary (standard
// base64); before the shared vocabulary the router saw it as "" and no
// attribute match could select it.
func TestRoute_BytesAttributeMatchesAsBase64(t *testing.T) {
	r := mustRouter(t, `routes:
  - name: raw
    match: {attributes: {payload: "aGk="}}
    sinks: [es]
    index: raw
`)
	rec := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge", &v1.KeyValue{Key: "payload", Value: &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte("hi")}}})
	if d, ok := r.Route("es", rec); !ok || d.Index != "raw" {
		t.Errorf("route = %+v %v, want index raw", d, ok)
	}
}

// A route's match can be a condition in the rules' language; the list
// form stays as sugar beside it.
func TestRoute_MatchExpression(t *testing.T) {
	r := mustRouter(t, `routes:
  - name: warn-spans
    match: 'kind == "span" and level >= warn'
    sinks: [es]
    index: "spans-{level}"
  - name: judge-5xx
    match: 'service == "judge" and attr["http.status_code"] in [500, 502] and kept_by startsWith "head:"'
    sinks: [es]
    index: judge-5xx
  - name: audit
    match: {log_type: [audit], service: [grader]}
    sinks: [es]
    index: audit
  - name: rest
    sinks: ["*"]
    index: rest
`)
	info := spanRec()
	info.Record.GetSpan().Status = nil
	for _, tt := range []struct {
		name string
		rec  *v1.EnrichedRecord
		want string
	}{
		{"error span", spanRec(), "spans-error"},
		{"info span", info, "rest"},
		{"judge 502", logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge", intAttr("http.status_code", 502)), "judge-5xx"},
		{"judge 200", logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge", intAttr("http.status_code", 200)), "rest"},
		{"grader audit (list form)", logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "grader"), "audit"},
	} {
		if d, ok := r.Route("es", tt.rec); !ok || d.Index != tt.want {
			t.Errorf("%s: routed to %q (%v), want %q", tt.name, d.Index, ok, tt.want)
		}
	}
}

// A bad condition is an error at config load, naming the route and
// pointing at the column; a reload with it keeps the old routes.
func TestParse_BadMatchExpression(t *testing.T) {
	for doc, want := range map[string]string{
		`routes: [{name: a, match: 'level >= eror', sinks: [es]}]`:      "routes[0] (a).match: column 10: unknown field \"eror\"",
		`routes: [{name: a, match: 'span.duration > 10', sinks: [es]}]`: "routes[0] (a).match: column 17: span.duration compares with a duration",
		`routes: [{name: a, match: 'kind ==', sinks: [es]}]`:            "routes[0] (a).match: column 7: unexpected token EOF",
		`routes: [{name: a, match: 'service', sinks: [es]}]`:            "routes[0] (a).match: column 1: not a condition",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", doc, err, want)
		}
	}
	r := mustRouter(t, `routes: [{name: a, match: 'kind == "log"', sinks: [es], index: a}]`)
	bad := Config{Routes: []Route{{Name: "a", Match: Match{When: `kind = "span"`}, Sinks: []string{"es"}, Index: "b"}}}
	if err := r.Reload(bad); err == nil || !strings.Contains(err.Error(), `did you mean "=="?`) {
		t.Fatalf("reload: %v", err)
	}
	if d, ok := r.Route("es", logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")); !ok || d.Index != "a" {
		t.Errorf("after a bad reload: %+v %v, want the old route", d, ok)
	}
}

func TestRouteNeeding_FillsOnlyWhatIsNeeded(t *testing.T) {
	r := mustRouter(t, `
routes:
  - {name: all, sinks: [s], index: "oj-{service}-{yyyy.MM.dd}", tenant: "{cluster}"}
`)
	rec := logRec(v1.SeverityNumber_SEVERITY_NUMBER_WARN, "judge")
	full, ok := r.Route("s", rec)
	if !ok || full.Index == "" || full.Tenant == "" || len(full.Labels) == 0 || len(full.Metadata) == 0 {
		t.Fatalf("Route = %+v %v, want every part", full, ok)
	}
	for _, need := range []Need{0, NeedIndex, NeedLabels, NeedMetadata, NeedTenant, NeedIndex | NeedMetadata, NeedAll} {
		d, ok := r.RouteNeeding("s", need, rec)
		if !ok || d.Route != "all" {
			t.Fatalf("need %b: %+v %v", need, d, ok)
		}
		want := Destination{Route: full.Route}
		if need&NeedIndex != 0 {
			want.Index = full.Index
		}
		if need&NeedTenant != 0 {
			want.Tenant = full.Tenant
		}
		if need&NeedLabels != 0 {
			want.Labels = full.Labels
		}
		if need&NeedMetadata != 0 {
			want.Metadata = full.Metadata
		}
		if d.Index != want.Index || d.Tenant != want.Tenant || !equalLabels(d.Labels, want.Labels) || !equalLabels(d.Metadata, want.Metadata) {
			t.Errorf("need %b: got %+v, want %+v", need, d, want)
		}
	}
}

// TestRoute_CachedIndexMatchesRendering routes records of many hours and
// field values (more combinations than the cache holds), from several
// goroutines, and checks every index against the pattern rendered afresh.
func TestRoute_CachedIndexMatchesRendering(t *testing.T) {
	const pat = "oj-{kind}-{service}-{yyyy.MM.dd.HH}"
	r := mustRouter(t, "routes:\n  - {name: es, sinks: [es], index: \""+pat+"\"}\n")
	p, err := parsePattern(pat)
	if err != nil {
		t.Fatal(err)
	}
	services := []string{"judge", "Compiler", "api", "runner/2"}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 600; i++ {
				var rec *v1.EnrichedRecord
				if (i+g)%3 == 0 {
					rec = spanRec()
					rec.Record.GetSpan().Service = services[(i/3+g)%len(services)]
					rec.Record.GetSpan().StartTimeUnixNano += uint64((i*7+g)%40) * uint64(time.Hour) / 2
				} else {
					rec = logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, services[(i+g)%len(services)])
					rec.Record.GetLog().TimeUnixNano += uint64((i*13+g)%40) * uint64(time.Hour) / 2
				}
				f := condition.EnrichedRecord(rec)
				want := p.render(f.Text, time.Unix(0, int64(rec.GetRecord().EventTimeUnixNano())), indexSafe)
				d, ok := r.RouteNeeding("es", NeedIndex, rec)
				if !ok || d.Index != want {
					t.Errorf("record %d of goroutine %d: index %q, want %q", i, g, d.Index, want)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// Sinks decode records without copying (v1.UnmarshalUnsafe): the index
// cache must keep its own copies of the field values, not pointers into a
// record's buffer.
func TestRoute_IndexCacheKeepsNoRecordBytes(t *testing.T) {
	r := mustRouter(t, "routes:\n  - {name: es, sinks: [es], index: \"oj-{service}-{yyyy.MM.dd}\"}\n")
	buf, err := proto.Marshal(logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge"))
	if err != nil {
		t.Fatal(err)
	}
	var rec v1.EnrichedRecord
	if err := v1.UnmarshalUnsafe(buf, &rec); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.RouteNeeding("es", NeedIndex, &rec); d.Index != "oj-judge-2026.12.31" {
		t.Fatalf("index %q", d.Index)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	recent := r.table.Load().routes[0].index.recent.Load()
	if recent == nil || len(*recent) != 1 || (*recent)[0].vals[0] != "judge" {
		t.Fatalf("cache after the record's buffer was overwritten: %+v", recent)
	}
}

// An event time of 2^63 ns or more (year 2262 on: an OTLP log's observed
// time is not bounded at ingest, and a third-party producer writes raw
// records directly) renders as time.Unix(0, int64(t)), before 1970. The
// index cache must key such times by the hour they render in: two times
// of one uint64 hour may render in different hours, and days.
func TestRoute_CachedIndexMatchesRenderingPast2262(t *testing.T) {
	const pat = "oj-{kind}-{yyyy.MM.dd}"
	r := mustRouter(t, "routes:\n  - {name: es, sinks: [es], index: \""+pat+"\"}\n")
	p, err := parsePattern(pat)
	if err != nil {
		t.Fatal(err)
	}
	h := uint64(time.Hour)
	q, rem := ^uint64(0)/h, ^uint64(0)%h+1 // 2^64 = q*h + rem, 0 < rem < h
	// x1 and x2 share a uint64 hour; as int64 they lie on both sides of
	// the midnight 24000 hours before 1970.
	x1 := (q - 24000) * h
	x2 := x1 + rem
	for _, at := range []uint64{x1, x2} {
		rec := logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "judge")
		rec.Record.GetLog().TimeUnixNano = at
		f := condition.EnrichedRecord(rec)
		want := p.render(f.Text, time.Unix(0, int64(at)), indexSafe)
		if d, ok := r.RouteNeeding("es", NeedIndex, rec); !ok || d.Index != want {
			t.Errorf("event time %d: index %q, want %q", at, d.Index, want)
		}
	}
}

// TestRouteScratch_SameAsRouteNeeding routes a sequence of different
// records (logs of several levels and services, a span, a dropped one)
// through one Scratch and compares each with RouteNeeding: nothing of a
// record routed before shows in the next.
func TestRouteScratch_SameAsRouteNeeding(t *testing.T) {
	r := mustRouter(t, `
routes:
  - {name: drop, sinks: [s], match: {service: [noisy]}, drop: true}
  - {name: errors, sinks: [s], match: {level: [error]}, index: "err-{service}-{yyyy.MM.dd}", tenant: "{cluster}"}
  - {name: all, sinks: [s], index: "oj-{service}-{yyyy.MM.dd}", tenant: "{cluster}"}
`)
	recs := []*v1.EnrichedRecord{
		logRec(v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "judge", intAttr("n", 1)),
		logRec(v1.SeverityNumber_SEVERITY_NUMBER_INFO, "api"),
		spanRec(),
		logRec(v1.SeverityNumber_SEVERITY_NUMBER_WARN, "noisy"),
		benchRecord(),
		{},
	}
	var s Scratch
	for round := 0; round < 2; round++ {
		for i, rec := range recs {
			for _, need := range []Need{0, NeedIndex, NeedAll} {
				want, wantOK := r.RouteNeeding("s", need, rec)
				got, ok := r.RouteScratch(&s, "s", need, rec)
				if ok != wantOK || got.Route != want.Route || got.Index != want.Index || got.Tenant != want.Tenant ||
					!equalLabels(got.Labels, want.Labels) || !equalLabels(got.Metadata, want.Metadata) {
					t.Fatalf("record %d need %b: RouteScratch = %+v %v, RouteNeeding = %+v %v", i, need, got, ok, want, wantOK)
				}
			}
		}
	}
}

// TestRouteScratch_NoAllocationForFileAndIndex: with a Scratch, routing a
// log for the file sink (nothing needed) or Elasticsearch (the index,
// cached) allocates nothing (RouteNeeding: one allocation, the field
// view, per record).
func TestRouteScratch_NoAllocationForFileAndIndex(t *testing.T) {
	r, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	rec := benchRecord()
	var s Scratch
	for _, c := range []struct {
		sink string
		need Need
	}{{"file", 0}, {"es", NeedIndex}} {
		r.RouteScratch(&s, c.sink, c.need, rec) // fills the index cache
		if n := testing.AllocsPerRun(100, func() { r.RouteScratch(&s, c.sink, c.need, rec) }); n != 0 {
			t.Errorf("%s: %v allocations per record, want 0", c.sink, n)
		}
	}
}
