package loki

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// The runtime decodes records without copying (v1.UnmarshalUnsafe), so an
// id kept after an unknown outcome would point into the fetched buffer:
// overwriting the buffer must leave the kept ids intact.
func TestUnknownOutcomes_KeepIDsPastTheBuffer(t *testing.T) {
	var (
		u    unknownOutcomes
		bufs [][]byte
		es   []entry
	)
	for i := range 3 {
		buf, err := proto.Marshal(record(i, "line", "").Enriched)
		if err != nil {
			t.Fatal(err)
		}
		var rec v1.EnrichedRecord
		if err := v1.UnmarshalUnsafe(buf, &rec); err != nil {
			t.Fatal(err)
		}
		bufs = append(bufs, buf)
		es = append(es, entry{i: i, id: rec.GetRecordId()})
	}
	u.add(es)
	for _, b := range bufs {
		for i := range b {
			b[i] = 'x'
		}
	}
	for _, want := range []string{"r00", "r01", "r02"} {
		if _, ok := u.ids[want]; !ok {
			t.Errorf("id %s lost after the buffer was overwritten; kept %q", want, keys(u.ids))
		}
	}
	// And a re-push of the same records is still recognised.
	repushed := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	u.pushing([]entry{{id: "r00"}, {id: "r01"}, {id: "r02"}}, repushed)
	if len(u.ids) != 0 {
		t.Errorf("after the re-push, still kept: %q", keys(u.ids))
	}
}

func keys(m map[string]struct{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
