package logweavev1_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func sampleEnvelopes() []*v1.Envelope {
	return []*v1.Envelope{
		{SchemaVersion: 1, RecordId: "r1", IngestedAtUnixNano: 5, Record: &v1.Envelope_Log{Log: sampleLog()}},
		{SchemaVersion: 1, RecordId: "r2", Record: &v1.Envelope_Span{Span: sampleSpan()}},
		{SchemaVersion: 1, RecordId: "r3", Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: make([]byte, 16), Submission: sampleSubmission()}}},
		{},
	}
}

func sampleEnriched() *v1.EnrichedRecord {
	return &v1.EnrichedRecord{
		SchemaVersion: 1, RecordId: "r1", Record: sampleEnvelopes()[0], Submission: sampleSubmission(),
		Span:     &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, SpanId: []byte{1}, Name: "judge", Service: "judge", StatusMessage: "ok"},
		Sampling: &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1}, Source: &v1.SourcePosition{Topic: "logweave.raw", Partition: 3, Offset: 9},
		EnrichedAtUnixNano: 7,
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nestedValue is an AnyValue with n levels of kvlists around a string:
// {kvlist_value: {values: [{key: "k", value: ...}]}}. Written outside in,
// with the lengths computed inside out, so 10,000 levels cost no more
// than their bytes.
func nestedValue(n int, leaf string) []byte {
	any := make([]int, n+1) // size of the AnyValue at each level, 0 = the leaf
	kv := make([]int, n+1)
	list := make([]int, n+1)
	any[0] = protowire.SizeTag(1) + protowire.SizeBytes(len(leaf))
	for i := 1; i <= n; i++ {
		kv[i] = protowire.SizeTag(1) + protowire.SizeBytes(1) + protowire.SizeTag(2) + protowire.SizeBytes(any[i-1])
		list[i] = protowire.SizeTag(1) + protowire.SizeBytes(kv[i])
		any[i] = protowire.SizeTag(7) + protowire.SizeBytes(list[i])
	}
	b := make([]byte, 0, any[n])
	for i := n; i >= 1; i-- {
		b = protowire.AppendVarint(protowire.AppendTag(b, 7, protowire.BytesType), uint64(list[i]))  // AnyValue.kvlist_value
		b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.BytesType), uint64(kv[i]))    // KeyValueList.values
		b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), []byte("k"))       // KeyValue.key
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.BytesType), uint64(any[i-1])) // KeyValue.value
	}
	return protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), []byte(leaf)) // AnyValue.string_value
}

// envelopeWithAttr is an Envelope whose log has one attribute with value v
// (the wire bytes of an AnyValue).
func envelopeWithAttr(v []byte) []byte {
	kv := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("a"))
	kv = protowire.AppendBytes(protowire.AppendTag(kv, 2, protowire.BytesType), v)
	log := protowire.AppendBytes(protowire.AppendTag(nil, 11, protowire.BytesType), kv)
	return protowire.AppendBytes(protowire.AppendTag(nil, 10, protowire.BytesType), log)
}

// decodeCases are wire inputs for an Envelope where the fast path and
// proto.Unmarshal could part ways.
func decodeCases(t testing.TB) map[string][]byte {
	t.Helper()
	cases := map[string][]byte{}
	for i, e := range sampleEnvelopes() {
		cases["valid "+e.Kind()+string(rune('0'+i))] = mustMarshal(t, e)
	}
	log := mustMarshal(t, sampleEnvelopes()[0])
	cases["invalid utf8 in log body"] = bytes.Replace(log, []byte("test 3 slow"), []byte("test 3 \xffslow"), 1)
	cases["invalid utf8 in nested kv key"] = bytes.Replace(log, []byte("mem_mb"), []byte("mem\xc3b"), 1)
	cases["invalid utf8 in nested value"] = envelopeWithAttr(nestedValue(5, "\xfe"))
	cases["invalid utf8 deep"] = envelopeWithAttr(nestedValue(200, "\xfe"))
	cases["nested past the fast path"] = envelopeWithAttr(nestedValue(200, "ok"))
	cases["nested past proto's limit"] = envelopeWithAttr(nestedValue(10001, "ok"))
	cases["truncated"] = log[:len(log)-3]
	cases["bytes in a string field still valid"] = protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("id"))
	cases["varint where a string is declared"] = protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 7)
	cases["string where a varint is declared"] = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("x"))
	cases["fixed32 where a message is declared"] = protowire.AppendFixed32(protowire.AppendTag(nil, 10, protowire.Fixed32Type), 1)
	cases["unknown fields"] = protowire.AppendBytes(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(log, 99, protowire.VarintType), 3), 100, protowire.BytesType), []byte("\xff"))
	cases["unknown group"] = protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(protowire.AppendTag(log, 50, protowire.StartGroupType), 1, protowire.VarintType), 1), 50, protowire.EndGroupType)
	cases["field number zero"] = protowire.AppendVarint([]byte{0}, 1)
	cases["log twice (merged)"] = append(append([]byte{}, log...), mustMarshal(t, &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{Body: "second"}}})...)
	cases["log then span (last wins)"] = append(append([]byte{}, log...), mustMarshal(t, sampleEnvelopes()[1])...)
	cases["varint past 64 bits"] = append(protowire.AppendTag(nil, 1, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
	cases["ten-byte varint"] = append(protowire.AppendTag(nil, 1, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
	cases["overlong length"] = append(protowire.AppendTag(nil, 2, protowire.BytesType), 0x82, 0x00, 'i', 'd')
	cases["length past the end"] = append(protowire.AppendTag(nil, 2, protowire.BytesType), 0x05, 'i', 'd')
	cases["truncated fixed64"] = append(protowire.AppendTag(nil, 3, protowire.Fixed64Type), 1, 2, 3)
	cases["empty"] = nil
	return cases
}

// sameDecode fails unless v1.Unmarshal and proto.Unmarshal agree on b: the
// same error (text included) or equal messages.
func sameDecode(t *testing.T, name string, b []byte, fast, slow v1.Message) {
	t.Helper()
	errF := v1.Unmarshal(b, fast)
	errS := proto.Unmarshal(b, slow)
	if (errF == nil) != (errS == nil) || (errF != nil && errF.Error() != errS.Error()) {
		t.Fatalf("%s: Unmarshal error %v, proto.Unmarshal error %v", name, errF, errS)
	}
	if errF == nil && !proto.Equal(fast, slow) {
		t.Fatalf("%s: Unmarshal and proto.Unmarshal decode differently:\n%v\n%v", name, fast, slow)
	}
}

func TestUnmarshal_MatchesProto(t *testing.T) {
	for name, b := range decodeCases(t) {
		sameDecode(t, name, b, &v1.Envelope{}, &v1.Envelope{})
	}
	sameDecode(t, "enriched", mustMarshal(t, sampleEnriched()), &v1.EnrichedRecord{}, &v1.EnrichedRecord{})
	for _, name := range []string{"invalid utf8 in log body", "invalid utf8 deep", "nested past proto's limit"} {
		if err := v1.Unmarshal(decodeCases(t)[name], &v1.Envelope{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The fast path keeps unknown fields, so a record written by a newer
// version passes through the enricher unchanged.
func TestUnmarshal_KeepsUnknownFields(t *testing.T) {
	b := decodeCases(t)["unknown fields"]
	var e v1.Envelope
	if err := v1.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Errorf("re-encoded %x, want %x", out, b)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, b := range decodeCases(f) {
		f.Add(b)
	}
	f.Add(mustMarshal(f, sampleEnriched()))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameDecode(t, "envelope", b, &v1.Envelope{}, &v1.Envelope{})
		sameDecode(t, "enriched", b, &v1.EnrichedRecord{}, &v1.EnrichedRecord{})
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, tc := range []struct {
		name string
		msg  proto.Message
		new  func() v1.Message
	}{
		{"envelope-log", sampleEnvelopes()[0], func() v1.Message { return &v1.Envelope{} }},
		{"enriched", sampleEnriched(), func() v1.Message { return &v1.EnrichedRecord{} }},
	} {
		wire := mustMarshal(b, tc.msg)
		b.Run(tc.name+"/proto", func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(wire, tc.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v1.Unmarshal(wire, tc.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
