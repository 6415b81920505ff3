package loki

import (
	"testing"

	"github.com/logweave/logweave/sinks"
)

// prepare renders every entry as Write did record by record: the same
// line, labels, metadata and size.
func TestPrepare_MatchesOneByOne(t *testing.T) {
	s := &Sink{cfg: Default()}
	batch := []*sinks.Record{record(0, "first", ""), record(1, "second line", "t1"), record(2, "", ""), record(3, "x=y \"q\"", "")}
	batch[2].Dest.Labels = nil
	for i, e := range s.prepare(batch) {
		r := batch[i]
		if want := string(appendLine(nil, r.Enriched)); e.e.Line != want {
			t.Errorf("record %d: line %q, want %q", i, e.e.Line, want)
		}
		if want := labelString(r); e.labels != want {
			t.Errorf("record %d: labels %q, want %q", i, e.labels, want)
		}
		if len(e.e.StructuredMetadata) != len(r.Dest.Metadata) {
			t.Fatalf("record %d: %d metadata, want %d", i, len(e.e.StructuredMetadata), len(r.Dest.Metadata))
		}
		for j, md := range r.Dest.Metadata {
			if got := e.e.StructuredMetadata[j]; got.Name != md.Name || got.Value != md.Value {
				t.Errorf("record %d metadata %d: %+v, want %+v", i, j, got, md)
			}
		}
		if e.i != i || e.id != r.Enriched.GetRecordId() || e.size != len(e.e.Line)+len(e.labels) {
			t.Errorf("record %d: i %d id %q size %d", i, e.i, e.id, e.size)
		}
		if wantTenant := r.Dest.Tenant; wantTenant != "" && e.tenant != wantTenant {
			t.Errorf("record %d: tenant %q, want %q", i, e.tenant, wantTenant)
		}
	}
}
