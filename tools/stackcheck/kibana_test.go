package stackcheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/logweave/logweave/find"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks/document"
	"github.com/logweave/logweave/testkit/esfake"
)

type savedObject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		Name, Type, ID string
	} `json:"references"`
}

func savedObjects(t *testing.T) map[string]savedObject {
	t.Helper()
	out := map[string]savedObject{}
	sc := bufio.NewScanner(bytes.NewReader(repoFile(t, "deploy/kibana/logweave.ndjson")))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var o savedObject
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("deploy/kibana/logweave.ndjson: %v: %s", err, sc.Text())
		}
		out[o.ID] = o
	}
	return out
}

// documentFields renders a joined log and a span the way the sinks write
// them and returns every field path.
func documentFields(t *testing.T) map[string]bool {
	t.Helper()
	sub := &v1.Submission{SubmitId: "S1", UserId: "u1"}
	now := uint64(time.Now().UnixNano())
	recs := []*v1.EnrichedRecord{
		{RecordId: "a", Submission: sub, Sampling: &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1},
			Span:   &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, Name: "judge", DurationNanos: 5e6},
			Record: &v1.Envelope{RecordId: "a", Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: now, Body: "x", Service: "judge", SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR}}}},
		{RecordId: "b", Submission: sub, Sampling: &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1},
			Record: &v1.Envelope{RecordId: "b", Record: &v1.Envelope_Span{Span: &v1.Span{Name: "judge", StartTimeUnixNano: now, EndTimeUnixNano: now + 5e6, Service: "judge"}}}},
	}
	fields := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			fields[prefix+k] = true
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	for _, r := range recs {
		var m map[string]any
		if err := json.Unmarshal(document.Append(nil, r), &m); err != nil {
			t.Fatal(err)
		}
		walk("", m)
	}
	return fields
}

func TestKibana_SavedObjectsOnRealFields(t *testing.T) {
	objs := savedObjects(t)
	dv, ok := objs["logweave"]
	if !ok || dv.Type != "index-pattern" || dv.Attributes["title"] != "logweave-*" || dv.Attributes["timeFieldName"] != "@timestamp" {
		t.Fatalf("data view: %+v", dv)
	}
	ss, ok := objs[find.KibanaSavedSearch]
	if !ok || ss.Type != "search" {
		t.Fatalf("no saved search %s (the one logweave find links to)", find.KibanaSavedSearch)
	}
	if len(ss.References) != 1 || ss.References[0].ID != dv.ID || ss.References[0].Type != "index-pattern" {
		t.Errorf("saved search references %+v, want the data view", ss.References)
	}
	meta, _ := ss.Attributes["kibanaSavedObjectMeta"].(map[string]any)
	var source struct {
		Query struct {
			Query string `json:"query"`
		} `json:"query"`
		IndexRefName string `json:"indexRefName"`
	}
	if err := json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &source); err != nil || source.IndexRefName != ss.References[0].Name || !strings.Contains(source.Query.Query, "submit_id") {
		t.Errorf("searchSourceJSON: %v %+v", err, source)
	}
	fields := documentFields(t)
	cols, _ := ss.Attributes["columns"].([]any)
	for _, want := range []string{"span.name", "span.duration_ms", "level", "message", "kept_by"} {
		found := false
		for _, c := range cols {
			found = found || c == want
		}
		if !found {
			t.Errorf("the saved search has no column %s", want)
		}
	}
	for _, c := range cols {
		if !fields[c.(string)] {
			t.Errorf("column %v is not a field of the documents the sinks write", c)
		}
	}
	// The compose stack imports the file.
	p := loadCompose(t)
	setup := p.Services["kibana-setup"]
	mounted := false
	for _, v := range setup.Volumes {
		mounted = mounted || strings.HasSuffix(v.Source, "deploy/kibana/logweave.ndjson")
	}
	if !mounted || !strings.Contains(strings.Join(setup.Command, " "), "/api/saved_objects/_import") {
		t.Errorf("kibana-setup does not import deploy/kibana/logweave.ndjson: %v", setup.Command)
	}
}

func TestFind_LinksOpenTheProvisionedObjects(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	sub := &v1.Submission{SubmitId: "S42"}
	r := &v1.EnrichedRecord{RecordId: "a", Submission: sub, Record: &v1.Envelope{RecordId: "a", Record: &v1.Envelope_Span{Span: &v1.Span{
		Name: "judge", SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, TraceId: bytes.Repeat([]byte{1}, 16), Service: "judge",
		StartTimeUnixNano: uint64(time.Now().UnixNano()), EndTimeUnixNano: uint64(time.Now().UnixNano())}}}}
	srv.Put("logweave-span-x", "a", document.Append(nil, r))
	cl, err := es.NewClient(es.Config{Addresses: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := find.Fetch(context.Background(), cl, find.Query{SubmitID: "S42"}, find.Options{Index: "logweave-*", KibanaURL: "http://k", GrafanaURL: "http://g"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tl.Links["kibana"], "http://k/app/discover#/view/"+find.KibanaSavedSearch+"?") {
		t.Errorf("kibana link %s", tl.Links["kibana"])
	}
	if _, ok := savedObjects(t)[find.KibanaSavedSearch]; !ok {
		t.Errorf("the Kibana link opens %s, which deploy/kibana does not provision", find.KibanaSavedSearch)
	}
	if !strings.HasPrefix(tl.Links["grafana"], "http://g/d/"+find.GrafanaDashboard+"/") || !strings.Contains(tl.Links["grafana"], "var-submit=S42") {
		t.Errorf("grafana link %s", tl.Links["grafana"])
	}
	uids := map[string]bool{}
	for _, d := range loadDashboards(t) {
		uids[d.UID] = true
	}
	if !uids[find.GrafanaDashboard] {
		t.Errorf("the Grafana link opens %s, which deploy/grafana does not provision", find.GrafanaDashboard)
	}
}
