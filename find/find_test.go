package find

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/testkit/esfake"
)

var update = flag.Bool("update", false, "rewrite golden files")

var base = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func ns(d time.Duration) uint64 { return uint64(base.Add(d).UnixNano()) }

// seed writes two submissions through the real Elasticsearch sink.
func seed(t *testing.T, srv *esfake.Server) {
	t.Helper()
	cfg := elasticsearch.Default()
	cfg.URLs = []string{srv.URL}
	s, err := elasticsearch.New(context.Background(), cfg, prometheus.NewRegistry(), "es")
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := router.New(router.Default())
	var recs []*sinks.Record
	n := 0
	add := func(sub string, seq uint32, trace byte, env *v1.Envelope, sc *v1.SpanContext) {
		n++
		env.RecordId = fmt.Sprintf("r%03d", n)
		s := seq
		er := &v1.EnrichedRecord{RecordId: env.RecordId, Record: env, Span: sc,
			Submission: &v1.Submission{SubmitId: sub, UserId: "U928374", SubmissionSeq: &s, Stage: sc.GetStage()},
			Sampling:   &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1}}
		d, _ := rt.Route("es", er)
		recs = append(recs, &sinks.Record{Enriched: er, Dest: d})
	}
	tid := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	sid := func(b byte) []byte { return []byte{0, 0, 0, 0, 0, 0, 0, b} }
	span := func(sub string, seq uint32, tr, id, parent byte, name string, stage v1.Stage, start, dur time.Duration, code v1.StatusCode, msg string) {
		sp := &v1.Span{TraceId: tid(tr), SpanId: sid(id), Name: name, Service: map[string]string{"submission": "gateway", "compile": "compiler", "judge": "judge", "score": "scorer"}[name],
			StartTimeUnixNano: ns(start), EndTimeUnixNano: ns(start + dur), Status: &v1.Status{Code: code, Message: msg}}
		if parent != 0 {
			sp.ParentSpanId = sid(parent)
		}
		add(sub, seq, tr, &v1.Envelope{Record: &v1.Envelope_Span{Span: sp}}, &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_SELF, Stage: stage, Name: name})
	}
	log := func(sub string, seq uint32, tr, spanRef byte, at time.Duration, sev v1.SeverityNumber, body string, stage v1.Stage) {
		l := &v1.Log{TraceId: tid(tr), TimeUnixNano: ns(at), SeverityNumber: sev, Body: body, Service: "judge"}
		join := v1.JoinStatus_JOIN_STATUS_MISSING
		if spanRef != 0 {
			l.SpanId = sid(spanRef)
			join = v1.JoinStatus_JOIN_STATUS_JOINED
		}
		add(sub, seq, tr, &v1.Envelope{Record: &v1.Envelope_Log{Log: l}}, &v1.SpanContext{Join: join, Stage: stage})
	}
	info, warn, errS := v1.SeverityNumber_SEVERITY_NUMBER_INFO, v1.SeverityNumber_SEVERITY_NUMBER_WARN, v1.SeverityNumber_SEVERITY_NUMBER_ERROR
	ok, bad := v1.StatusCode_STATUS_CODE_OK, v1.StatusCode_STATUS_CODE_ERROR
	span("S1001", 7, 0xab, 1, 0, "submission", 0, 0, 14*time.Second, bad, "judge failed")
	span("S1001", 7, 0xab, 2, 1, "compile", v1.Stage_STAGE_COMPILE, 10*time.Millisecond, 800*time.Millisecond, ok, "")
	log("S1001", 7, 0xab, 2, 300*time.Millisecond, info, "compiled main.go", v1.Stage_STAGE_COMPILE)
	span("S1001", 7, 0xab, 3, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, 12500*time.Millisecond, bad, "time limit exceeded")
	log("S1001", 7, 0xab, 3, 2*time.Second, info, "test 1 passed", v1.Stage_STAGE_JUDGE)
	log("S1001", 7, 0xab, 3, 12*time.Second, warn, "test 5 still running", v1.Stage_STAGE_JUDGE)
	log("S1001", 7, 0xab, 3, 13*time.Second, errS, "time limit exceeded on test 5", v1.Stage_STAGE_JUDGE)
	log("S1001", 7, 0xab, 0, 13500*time.Millisecond, info, "sandbox cleaned up", 0)
	span("S2002", 8, 0xcd, 9, 0, "submission", 0, time.Hour, time.Second, ok, "")
	if _, err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func TestFind_Golden(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	seed(t, srv)
	cl, err := es.NewClient(es.Config{Addresses: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{KibanaURL: "http://kibana:5601", GrafanaURL: "http://grafana:3000"}
	var outs []string
	for _, q := range []Query{{SubmitID: "S1001"}, {User: "U928374", Seq: 7}, {TraceID: "ABABABABABABABABABABABABABABABAB"}} {
		tl, err := Fetch(context.Background(), cl, q, opt)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		WriteText(&buf, tl)
		outs = append(outs, buf.String())
		if tl.Took > time.Second {
			t.Errorf("find took %s", tl.Took)
		}
	}
	if outs[0] != outs[1] || outs[0] != outs[2] {
		t.Errorf("by submit, by user+seq and by trace differ:\n%s\n---\n%s\n---\n%s", outs[0], outs[1], outs[2])
	}
	golden := filepath.Join("testdata", "S1001.golden")
	if *update {
		os.WriteFile(golden, []byte(outs[0]), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if outs[0] != string(want) {
		t.Errorf("output differs from %s:\n%s", golden, outs[0])
	}
	tl, err := Fetch(context.Background(), cl, Query{SubmitID: "nope"}, opt)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown submission: err %v, want ErrNotFound", err)
	}
	var buf bytes.Buffer
	WriteText(&buf, tl)
	if buf.String() != "no documents found\n" {
		t.Errorf("unknown submission: %q", buf.String())
	}
	if _, err := Fetch(context.Background(), cl, Query{}, opt); !errors.Is(err, ErrNoQuery) {
		t.Errorf("empty query: err %v, want ErrNoQuery", err)
	}
}
