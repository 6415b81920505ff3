package reconcile

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/sinks"
)

func TestReconcile_CleanRunReportsNothing(t *testing.T) {
	f := newFixture(t)
	// Before the sinks ran, everything is pending, nothing missing.
	rep := f.run(f.options())
	if rep.Clean() || summary(rep, "es").Pending != 20 || summary(rep, "loki").Pending != 15 || summary(rep, "es").Missing+summary(rep, "loki").Missing != 0 {
		t.Fatalf("before the sinks ran: want 20 es and 15 loki records pending, none missing: %+v", rep.Sinks)
	}
	f.deliver("es", f.esSink())
	f.deliver("loki", f.lokiSink())
	rep = f.run(f.options())
	if !rep.Clean() {
		t.Fatalf("differences after a clean delivery: %+v", rep.Differences)
	}
	if rep.Submissions != 5 || rep.Records != 20 {
		t.Errorf("checked %d submissions from %d records, want 5 from 20", rep.Submissions, rep.Records)
	}
	// Spans go to Elasticsearch only (the default routes).
	if es, lk := summary(rep, "es"), summary(rep, "loki"); es.Expected != 20 || es.Found != 20 || lk.Expected != 15 || lk.Found != 15 {
		t.Errorf("summary: %+v", rep.Sinks)
	}
}

func TestReconcile_MissingDetectedPerSubmissionAndRepaired(t *testing.T) {
	f := newFixture(t)
	// Elasticsearch refuses one record of S4 for good: it is dead-lettered,
	// so it is not expected there.
	f.es.SetItemFault(func(_, id string, _ []byte) (int, string, string) {
		if id == "S4-log1" {
			return 400, "document_parsing_exception", "failed to parse field [level]"
		}
		return 0, "", ""
	})
	esFaulty := &skipping{Sink: f.esSink(), skip: "S2"}
	f.deliver("es", esFaulty)
	f.es.SetItemFault(nil)
	lokiFaulty := &skipping{Sink: &retenanting{Sink: f.lokiSink(), submission: "S3", tenant: "other"}, skip: "S2"}
	f.deliver("loki", lokiFaulty)
	// Someone deletes two documents of S1.
	var deleted []string
	for idx, docs := range f.es.AllDocs() {
		for _, id := range []string{"S1-span", "S1-log2"} {
			if _, ok := docs[id]; ok && f.es.Delete(idx, id) {
				deleted = append(deleted, id)
			}
		}
	}
	if len(deleted) != 2 {
		t.Fatalf("deleted %v", deleted)
	}

	want := map[string][]string{"es/S1": sorted(deleted...), "loki/S3": {"S3-log0", "S3-log1", "S3-log2"}}
	add := func(sink string, skipped map[string][]string) {
		for sid, ids := range skipped {
			if sink == "loki" && sid == "S3" {
				continue // already all missing
			}
			var keep []string
			for _, id := range ids {
				if !(sink == "es" && id == "S4-log1") {
					keep = append(keep, id)
				}
			}
			if len(keep) > 0 {
				want[sink+"/"+sid] = sorted(append(want[sink+"/"+sid], keep...)...)
			}
		}
	}
	add("es", esFaulty.skipped)
	add("loki", lokiFaulty.skipped)
	if len(esFaulty.skipped["S2"]) == 0 || len(lokiFaulty.skipped["S2"]) == 0 {
		t.Fatalf("the faulty sinks skipped nothing of S2: %v %v", esFaulty.skipped, lokiFaulty.skipped)
	}

	rep := f.run(f.options())
	got := map[string][]string{}
	for k, d := range diffs(rep) {
		if len(d.Extra)+len(d.Duplicated)+len(d.Pending) > 0 {
			t.Errorf("%s: unexpected differences %+v", k, d)
		}
		got[k] = d.Missing
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("missing per submission:\n got %v\nwant %v", got, want)
	}
	if s := summary(rep, "es"); s.DeadLettered != 1 {
		t.Errorf("es dead-lettered %d, want 1 (S4-log1)", s.DeadLettered)
	}

	o := f.options()
	o.Repair = true
	rep = f.run(o)
	if !rep.Clean() {
		t.Fatalf("differences after --repair: %+v", rep.Differences)
	}
	var wantRepaired int
	for _, ids := range want {
		wantRepaired += len(ids)
	}
	if n := summary(rep, "es").Repaired + summary(rep, "loki").Repaired; n != wantRepaired {
		t.Errorf("repaired %d records, want %d", n, wantRepaired)
	}

	// A second run finds nothing to do; a second repair writes nothing.
	o = f.options()
	o.Repair = true
	rep = f.run(o)
	if !rep.Clean() || summary(rep, "es").Repaired+summary(rep, "loki").Repaired != 0 {
		t.Fatalf("second run: clean %v, %+v", rep.Clean(), rep.Sinks)
	}
	if n := len(docsWithID(f, "S1-span")); n != 1 {
		t.Errorf("S1-span is in %d indices, want 1", n)
	}
}

func docsWithID(f *fixture, id string) []string {
	var out []string
	for idx, docs := range f.es.AllDocs() {
		if _, ok := docs[id]; ok {
			out = append(out, idx)
		}
	}
	return out
}

func TestReconcile_ExtraAndDuplicatedDetected(t *testing.T) {
	f := newFixture(t)
	f.deliver("es", f.esSink())
	f.deliver("loki", f.lokiSink())
	// Elasticsearch: S5's warn log copied into a second index, and a
	// document of S5 that logweave.enriched never held.
	var src []byte
	for _, docs := range f.es.AllDocs() {
		if d, ok := docs["S5-log1"]; ok {
			src = d
		}
	}
	f.es.Put("logweave-log-copy", "S5-log1", src)
	f.es.Put("logweave-log-copy", "foreign-es", []byte(`{"record_id":"foreign-es","submit_id":"S5"}`))
	// Loki: a second copy of S5's info log with another line, and an entry
	// of S5 nobody routed.
	at := f.start.Add(4 * time.Second)
	labels := map[string]string{"service": "judge", "level": "info"}
	f.pushJSON(labels, at.Add(10*time.Millisecond), "msg=\"edited copy\"", map[string]string{"submit_id": "S5", "record_id": "S5-log0"})
	f.pushJSON(labels, at.Add(20*time.Millisecond), "msg=\"foreign\"", map[string]string{"submit_id": "S5", "record_id": "foreign-loki"})

	rep := f.run(f.options())
	d := diffs(rep)
	if len(d) != 2 {
		t.Fatalf("differences %v, want es/S5 and loki/S5 only", keys(d))
	}
	if es := d["es/S5"]; es == nil || !reflect.DeepEqual(es.Extra, []string{"foreign-es"}) || !reflect.DeepEqual(es.Duplicated, []string{"S5-log1"}) || len(es.Missing) != 0 {
		t.Errorf("es/S5: %+v", es)
	}
	if lk := d["loki/S5"]; lk == nil || !reflect.DeepEqual(lk.Extra, []string{"foreign-loki"}) || !reflect.DeepEqual(lk.Duplicated, []string{"S5-log0"}) || len(lk.Missing) != 0 {
		t.Errorf("loki/S5: %+v", lk)
	}
	// --submit narrows the check.
	o := f.options()
	o.Submissions = []string{"S1", "S2"}
	if rep := f.run(o); !rep.Clean() || rep.Submissions != 2 {
		t.Errorf("--submit S1 S2: clean %v, %d submissions", rep.Clean(), rep.Submissions)
	}
}

func keys(m map[string]*SinkResult) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSinkResult_Compare(t *testing.T) {
	exp := map[string]*sinks.Record{"a": {}, "b": {}, "c": {}, "p": {}}
	found := []sinks.Found{{RecordID: "a"}, {RecordID: "a"}, {RecordID: "b"}, {RecordID: "x"}, {RecordID: "d"}}
	var r SinkResult
	r.compare(exp, found, map[string]bool{"d": true}, map[string]bool{"p": true})
	got := fmt.Sprintf("missing %v extra %v dup %v pending %v", r.Missing, r.Extra, r.Duplicated, r.Pending)
	if want := "missing [c] extra [x] dup [a] pending [p]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if r.Clean() || !strings.Contains(sample(&r), "missing c") {
		t.Errorf("clean %v, sample %q", r.Clean(), sample(&r))
	}
}
