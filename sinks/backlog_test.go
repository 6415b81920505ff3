package sinks

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

type backlogSink struct{ nopSink }

func (backlogSink) WritesBacklog() bool { return true }

func TestWorker_BacklogWriterTakesTheBacklog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sink     Sink
		maxBytes int
		want     []int
	}{
		{"batch.max_records", nopSink{}, 5 << 20, []int{500, 500, 500, 500, 100}},
		{"backlog writer", backlogSink{}, 5 << 20, []int{2000, 100}},
		{"backlog writer, batch.max_bytes", backlogSink{}, 100 * 1024, []int{1024, 1024, 52}},
	} {
		cfg := DefaultConfig("file")
		cfg.Batch.MaxBytes = tc.maxBytes
		w := newWorker(&Runner{cfg: cfg, sink: tc.sink}, 0)
		recs := make([]*kgo.Record, 2100)
		for i := range recs {
			recs[i] = &kgo.Record{Offset: int64(i), Value: make([]byte, 100)}
		}
		w.queue = recs
		for _, r := range recs {
			w.queueBytes += len(r.Value)
		}
		var got []int
		next := int64(0)
		for len(w.queue) > 0 {
			b := w.takeLocked()
			if b[0].Offset != next {
				t.Fatalf("%s: batch starts at %d, want %d", tc.name, b[0].Offset, next)
			}
			next += int64(len(b))
			got = append(got, len(b))
		}
		if w.queueBytes != 0 || len(got) != len(tc.want) {
			t.Fatalf("%s: batches %v (queue bytes left %d), want %v", tc.name, got, w.queueBytes, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: batches %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}
