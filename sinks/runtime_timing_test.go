package sinks

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/router"
)

type nopSink struct{}

func (nopSink) Write(_ context.Context, batch []*Record) ([]Result, error) {
	res := make([]Result, len(batch))
	return res, nil
}
func (nopSink) Close() error { return nil }

// BenchmarkRuntimePerRecord measures what the runtime adds per record
// (decode, route, result bookkeeping) with a destination that does nothing.
func BenchmarkRuntimePerRecord(b *testing.B) {
	rt, _ := router.New(router.Default())
	r := &Runner{cfg: DefaultConfig("bench"), sink: nopSink{}, router: rt, topics: testTopics, m: newMetrics(prometheus.NewRegistry(), "bench")}
	w := newWorker(r, 0)
	batch := make([]*kgo.Record, 500)
	var size int
	for i := range batch {
		v, _ := proto.Marshal(enriched(fmt.Sprintf("r%05d", i)))
		batch[i] = &kgo.Record{Topic: enrichedTopic, Offset: int64(i), Value: v}
		size += len(v)
	}
	b.SetBytes(int64(size / len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(batch) {
		if !w.process(batch) {
			b.Fatal("batch not processed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
