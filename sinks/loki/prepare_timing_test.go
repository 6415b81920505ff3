package loki

import (
	"fmt"
	"testing"

	"github.com/logweave/logweave/sinks"
)

// BenchmarkPrepare renders a 500-record batch's entries (lines, stream
// labels, structured metadata), what Write does before the pushes.
func BenchmarkPrepare(b *testing.B) {
	s := &Sink{cfg: Default()}
	batch := make([]*sinks.Record, 500)
	for i := range batch {
		batch[i] = record(i, fmt.Sprintf("test %d passed in %dms", i%40, 10+i%300), "")
	}
	b.ReportAllocs()
	for b.Loop() {
		p := s.prepare(batch)
		if len(p.entries) != len(batch) {
			b.Fatal(len(p.entries))
		}
		s.release(p)
	}
}
