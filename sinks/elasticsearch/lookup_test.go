package elasticsearch

import (
	"context"
	"testing"

	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/testkit/esfake"
)

// TestLookup_FindsWhatTheSinkWrote: the lookup reconcile uses finds, by
// the document's submit_id field, the documents the sink wrote, with their
// record_id (the _id) and index; its factory builds it from the sink's
// section, over the template's patterns unless told otherwise.
func TestLookup_FindsWhatTheSinkWrote(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	s := newSink(t, srv, nil)
	write(t, s, records(3, "r"))
	cfg := s.cfg
	l, err := NewFactory().NewLookup(&cfg, sinks.LookupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found, err := l.Lookup(context.Background(), sinks.LookupQuery{Field: "submit_id", Value: "S1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 3 || found[0] != (sinks.Found{RecordID: "r0000", Where: "logweave-log-2026.11.22"}) || found[2].RecordID != "r0002" {
		t.Errorf("found %+v, want r0000..r0002 in logweave-log-2026.11.22", found)
	}
	if found, err := l.Lookup(context.Background(), sinks.LookupQuery{Field: "submit_id", Value: "S2"}); err != nil || len(found) != 0 {
		t.Errorf("another submission: %+v, %v", found, err)
	}
}
