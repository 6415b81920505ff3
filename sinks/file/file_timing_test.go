package file

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/document"
)

// BenchmarkFileSinkBatch500 writes 500-record batches, fsync included.
func BenchmarkFileSinkBatch500(b *testing.B) { benchmarkFileSinkBatch(b, 500) }

// BenchmarkFileSinkBatch10 writes 10-record batches, as a partition with
// a trickle of records does (one batch per linger): one fsync per batch
// is most of it.
func BenchmarkFileSinkBatch10(b *testing.B) { benchmarkFileSinkBatch(b, 10) }

func benchmarkFileSinkBatch(b *testing.B, n int) {
	s, err := New(Config{Dir: b.TempDir(), MaxBytes: 1 << 30, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]*sinks.Record, n)
	size := 0
	for i := range batch {
		batch[i] = rec(0, int64(i), fmt.Sprintf("test %d passed in 12ms on judge-7", i))
		size += len(document.Append(nil, batch[i].Enriched)) + 1
	}
	b.SetBytes(int64(size / len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(batch) {
		if _, err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
