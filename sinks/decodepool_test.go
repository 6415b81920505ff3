package sinks

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func str(k, v string) *v1.KeyValue {
	return &v1.KeyValue{Key: k, Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: v}}}
}

// shapedRecord is a record of one of several shapes (i % 8): logs with and
// without span context, submission, sampling, source, resource and
// attributes, spans, trace links, empty nested messages (present but with
// nothing in them) and an empty record.
func shapedRecord(i int) *v1.EnrichedRecord {
	id := fmt.Sprintf("rec-%05d", i)
	sub := &v1.Submission{SubmitId: fmt.Sprintf("s%d", i), UserId: "u7", ProblemId: "p3"}
	log := &v1.Log{TimeUnixNano: uint64(1700000000000000000 + i), Body: "line " + id, Service: "judge", SeverityText: "INFO",
		TraceId: []byte{1, 2, 3, byte(i)}, SpanId: []byte{4, 5, byte(i)}}
	switch i % 8 {
	case 0: // a full log
		log.Resource = &v1.Resource{Namespace: "ns", Pod: "pod-1", Attributes: []*v1.KeyValue{str("zone", "a")}}
		log.Attributes = []*v1.KeyValue{str("k1", "v1"), str("k2", "v2"), {Key: "n", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: int64(i)}}}}
		log.Submission = sub
		return &v1.EnrichedRecord{SchemaVersion: 1, RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: log}},
			Span:       &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, SpanId: []byte{9, byte(i)}, Name: "compile", Service: "judge"},
			Submission: sub, Sampling: &v1.Sampling{KeptBy: "tail", Rate: 0.5, SampleWeight: 2},
			Source: &v1.SourcePosition{Topic: "logweave.raw", Partition: 3, Offset: int64(i)}, EnrichedAtUnixNano: 5}
	case 1: // a bare log: no attributes, no resource, nothing around it
		return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: log}}}
	case 2: // a span
		return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Span{Span: &v1.Span{Name: "judge",
			TraceId: []byte{1}, SpanId: []byte{2}, Attributes: []*v1.KeyValue{str("a", "b")}, Submission: sub}}},
			Span: &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_SELF}, Submission: sub}
	case 3: // a trace link
		return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: []byte{7}, Submission: sub}}}}
	case 4: // nested messages present but empty
		return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{Resource: &v1.Resource{}, Submission: &v1.Submission{}}}},
			Span: &v1.SpanContext{}, Submission: &v1.Submission{}, Sampling: &v1.Sampling{}, Source: &v1.SourcePosition{}}
	case 5: // a log with many attributes (the slot's slice grows)
		for k := 0; k < 40; k++ {
			log.Attributes = append(log.Attributes, str(fmt.Sprintf("k%d", k), id))
		}
		return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: log}}, Sampling: &v1.Sampling{Rate: 1}}
	case 6: // an empty envelope
		return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{}}
	default: // nothing at all
		return &v1.EnrichedRecord{}
	}
}

// oddWire is wire forms a fresh decode reads in its own way: message fields
// repeated (merged), the oneof given twice (the last wins), unknown fields,
// and malformed input.
func oddWire(t testing.TB) [][]byte {
	t.Helper()
	full, _ := proto.Marshal(shapedRecord(0))
	span, _ := proto.Marshal(shapedRecord(2))
	logEnv, _ := proto.Marshal(shapedRecord(0).GetRecord())
	spanEnv, _ := proto.Marshal(shapedRecord(2).GetRecord())
	var out [][]byte
	// The record merged from two: every message field twice.
	out = append(out, append(append([]byte{}, full...), span...))
	// The envelope's oneof: a log, then a span in a second envelope field.
	b := protowire.AppendTag(nil, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, logEnv)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, spanEnv)
	out = append(out, b)
	// One envelope holding both a log and a span (the last wins).
	both := append(append([]byte{}, logEnv...), spanEnv...)
	b = protowire.AppendTag(nil, 3, protowire.BytesType)
	out = append(out, protowire.AppendBytes(b, both))
	// An unknown field.
	b = protowire.AppendTag(append([]byte{}, full...), 99, protowire.BytesType)
	out = append(out, protowire.AppendBytes(b, []byte("x")))
	// Malformed: truncated, a bad length, a group.
	out = append(out, full[:len(full)/2], []byte{0x1a, 0x7f, 0x01}, []byte{0x1b, 0x1c})
	return out
}

// checkSlotDecode decodes b into the slot and compares with a fresh
// v1.UnmarshalUnsafe: the same verdict and, when it decodes, the same
// message (presence of nested messages included, and a log without
// attributes has a nil slice).
func checkSlotDecode(t *testing.T, s *decodeSlot, b []byte) {
	t.Helper()
	want := &v1.EnrichedRecord{}
	wantErr := v1.UnmarshalUnsafe(b, want)
	got, err := s.decode(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decode error %v, fresh decode error %v (input %x)", err, wantErr, b)
	}
	if err != nil {
		return
	}
	if !proto.Equal(got, want) {
		t.Fatalf("slot decode differs from a fresh decode:\n got %v\nwant %v", got, want)
	}
	if (got.GetRecord().GetLog() != nil && got.GetRecord().GetLog().Attributes == nil) != (want.GetRecord().GetLog() != nil && want.GetRecord().GetLog().Attributes == nil) {
		t.Fatalf("log attributes nil-ness differs: got %#v, want %#v", got.GetRecord().GetLog().GetAttributes(), want.GetRecord().GetLog().GetAttributes())
	}
}

func TestDecodeSlot_MatchesFreshDecode(t *testing.T) {
	var inputs [][]byte
	for i := 0; i < 8; i++ {
		b, err := proto.Marshal(shapedRecord(i))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	inputs = append(inputs, oddWire(t)...)
	// Every input after every other one in the same slot: what the
	// previous record left must never show in the next.
	for i, a := range inputs {
		for j, b := range inputs {
			t.Run(fmt.Sprintf("%d_then_%d", i, j), func(t *testing.T) {
				var s decodeSlot
				checkSlotDecode(t, &s, a)
				checkSlotDecode(t, &s, b)
				checkSlotDecode(t, &s, a)
			})
		}
	}
}

func FuzzDecodeSlot(f *testing.F) {
	for i := 0; i < 8; i++ {
		a, _ := proto.Marshal(shapedRecord(i))
		b, _ := proto.Marshal(shapedRecord(i + 3))
		f.Add(a, b)
	}
	for _, b := range oddWire(f) {
		a, _ := proto.Marshal(shapedRecord(0))
		f.Add(a, b)
		f.Add(b, a)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var s decodeSlot
		checkSlotDecode(t, &s, a)
		checkSlotDecode(t, &s, b)
	})
}

// keepingSink keeps, as a sink may, clones of each record's id and body
// across batches, and the Enriched pointers it was given (to see them
// reused).
type keepingSink struct {
	ids, bodies []string
	seen        []*v1.EnrichedRecord
}

func (k *keepingSink) Write(_ context.Context, batch []*Record) ([]Result, error) {
	for _, r := range batch {
		k.ids = append(k.ids, string([]byte(r.Enriched.GetRecordId())))
		k.bodies = append(k.bodies, string([]byte(r.Enriched.GetRecord().GetLog().GetBody())))
		k.seen = append(k.seen, r.Enriched)
	}
	return make([]Result, len(batch)), nil
}
func (*keepingSink) Close() error { return nil }

// TestWorker_ReusedRecordsAndOverwrittenBuffers processes two batches with
// one worker, the second reusing the first's decoded records, after
// overwriting the first batch's fetched buffer: what the sink kept (clones)
// is intact, and the second batch's records are its own, not the first's
// left over in the reused messages.
func TestWorker_ReusedRecordsAndOverwrittenBuffers(t *testing.T) {
	rt, err := router.New(router.Default())
	if err != nil {
		t.Fatal(err)
	}
	sink := &keepingSink{}
	r := &Runner{cfg: DefaultConfig("reuse"), sink: sink, router: rt, topics: testTopics, m: newMetrics(prometheus.NewRegistry(), "reuse")}
	w := newWorker(r, 0)
	fetch := func(first, n int) ([]*kgo.Record, []byte) {
		// One buffer for the batch, as a fetch's decompressed batch.
		var buf []byte
		var ends []int
		for i := first; i < first+n; i++ {
			rec := shapedRecord(0) // the full shape: every primed message
			rec.RecordId = fmt.Sprintf("id-%05d", i)
			rec.Record.GetLog().Body = fmt.Sprintf("body-%05d", i)
			buf, _ = proto.MarshalOptions{}.MarshalAppend(buf, rec)
			ends = append(ends, len(buf))
		}
		batch := make([]*kgo.Record, n)
		start := 0
		for i, end := range ends {
			batch[i] = &kgo.Record{Topic: enrichedTopic, Offset: int64(first + i), Value: buf[start:end:end]}
			start = end
		}
		return batch, buf
	}
	batch1, buf1 := fetch(0, 50)
	if !w.process(batch1) {
		t.Fatal("first batch not processed")
	}
	copy(buf1, bytes.Repeat([]byte{0xee}, len(buf1))) // the fetch buffer reused by the client
	batch2, _ := fetch(50, 50)
	if !w.process(batch2) {
		t.Fatal("second batch not processed")
	}
	if len(sink.ids) != 100 {
		t.Fatalf("sink saw %d records, want 100", len(sink.ids))
	}
	for i := range sink.ids {
		if want := fmt.Sprintf("id-%05d", i); sink.ids[i] != want {
			t.Fatalf("kept id %d = %q, want %q", i, sink.ids[i], want)
		}
		if want := fmt.Sprintf("body-%05d", i); sink.bodies[i] != want {
			t.Fatalf("kept body %d = %q, want %q", i, sink.bodies[i], want)
		}
	}
	// The second batch reused the first's messages (the point of the
	// slots), and they now hold the second batch's records.
	for i := 0; i < 50; i++ {
		if sink.seen[i] != sink.seen[50+i] {
			t.Fatalf("record %d: the second batch did not reuse the first's message", i)
		}
		if got, want := sink.seen[50+i].GetRecordId(), fmt.Sprintf("id-%05d", 50+i); got != want {
			t.Fatalf("reused message %d holds %q, want %q", i, got, want)
		}
	}
}

// BenchmarkRuntimePerRecord_Shaped is BenchmarkRuntimePerRecord with
// records of every shape (shapedRecord), most of them full logs.
func BenchmarkRuntimePerRecord_Shaped(b *testing.B) {
	rt, _ := router.New(router.Default())
	r := &Runner{cfg: DefaultConfig("bench"), sink: nopSink{}, router: rt, topics: testTopics, m: newMetrics(prometheus.NewRegistry(), "bench")}
	w := newWorker(r, 0)
	batch := make([]*kgo.Record, 500)
	var size int
	for i := range batch {
		shape := i
		if i%2 == 0 {
			shape = 0
		}
		v, _ := proto.Marshal(shapedRecord(shape))
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
