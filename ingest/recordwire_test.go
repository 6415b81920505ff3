package ingest

import (
	"bytes"
	"math"
	"math/rand"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// fillRecord sets a random selection of m's fields, every kind of value
// the schema has: empty and long strings (length prefixes of one and two
// bytes), zero and negative enums, a oneof member or none, an optional
// field set to 0, nested messages and lists down to depth.
func fillRecord(r *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if r.Intn(5) == 0 {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && m.WhichOneof(od) != nil {
			continue
		}
		switch {
		case fd.IsList():
			if fd.Kind() != protoreflect.MessageKind || depth <= 0 {
				continue
			}
			l := m.Mutable(fd).List()
			for n := r.Intn(4); n > 0; n-- {
				e := l.NewElement()
				fillRecord(r, e.Message(), depth-1)
				l.Append(e)
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth > 0 {
				fillRecord(r, m.Mutable(fd).Message(), depth-1)
			}
		default:
			m.Set(fd, randomScalar(r, fd))
		}
	}
}

func randomScalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString([]string{"", "a", "ü judge", string(bytes.Repeat([]byte("x"), 130)), string(bytes.Repeat([]byte("y"), 20000))}[r.Intn(5)])
	case protoreflect.BytesKind:
		b := make([]byte, []int{0, 8, 16, 200}[r.Intn(4)])
		r.Read(b)
		return protoreflect.ValueOfBytes(b)
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.Intn(2) == 0)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber([]int32{0, 1, 2, 24, -1, math.MaxInt32}[r.Intn(6)]))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, math.MinInt64, 1 << 40}[r.Intn(5)])
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 7, math.MaxUint32}[r.Intn(3)])
	case protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, 1_799_999_000_000_000_000, math.MaxUint64}[r.Intn(4)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, -0.5, math.Inf(1), math.NaN(), 1e300}[r.Intn(5)])
	}
	panic("no random value for " + fd.Kind().String())
}

// TestAppendRecord_MatchesProtoMarshal checks the direct record writer
// against proto.Marshal (Deterministic) on generated logs and spans with
// every field of the schema set somewhere.
func TestAppendRecord_MatchesProtoMarshal(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		l, sp := &v1.Log{}, &v1.Span{}
		fillRecord(r, l.ProtoReflect(), 4)
		fillRecord(r, sp.ProtoReflect(), 4)
		checkAppendRecord(t, l, func(b []byte) ([]byte, error) { return appendLog(b, l) })
		checkAppendRecord(t, sp, func(b []byte) ([]byte, error) { return appendSpan(b, sp) })
	}
}

// TestAppendRecord_NilElementsAndInvalidUTF8 covers what generated records
// cannot hold: nil list elements (the mapping keeps an empty OTLP array
// element as nil) and strings proto.Marshal refuses.
func TestAppendRecord_NilElementsAndInvalidUTF8(t *testing.T) {
	l := &v1.Log{Body: "x", Attributes: []*v1.KeyValue{nil, {Key: "a", Value: &v1.AnyValue{}},
		{Key: "arr", Value: &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{Values: []*v1.AnyValue{nil, strValue("")}}}}},
		{Key: "kvl", Value: &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: &v1.KeyValueList{Values: []*v1.KeyValue{nil}}}}}}}
	checkAppendRecord(t, l, func(b []byte) ([]byte, error) { return appendLog(b, l) })
	sp := &v1.Span{Name: "judge", Events: []*v1.SpanEvent{nil, {Name: "e"}}}
	checkAppendRecord(t, sp, func(b []byte) ([]byte, error) { return appendSpan(b, sp) })

	for _, l := range []*v1.Log{
		{Body: "a\xff"},
		{Attributes: []*v1.KeyValue{{Key: "k", Value: strValue("\xff")}}},
		{Resource: &v1.Resource{Attributes: []*v1.KeyValue{{Key: "\xff"}}}},
	} {
		if _, err := deterministic.Marshal(l); err == nil {
			t.Fatalf("proto.Marshal took %v", l)
		}
		if _, err := appendLog(nil, l); err != errRecordNeedsProto {
			t.Errorf("appendLog(%v) = %v, want errRecordNeedsProto", l, err)
		}
	}
}

func checkAppendRecord(t *testing.T, m proto.Message, appendFn func([]byte) ([]byte, error)) {
	t.Helper()
	want, err := deterministic.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := appendFn(append([]byte{}, prefix...))
	if err != nil {
		t.Fatalf("%v: %v", m, err)
	}
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("%v:\n got %x\nwant %x", m, got, want)
	}
}

// BenchmarkRecordMarshal compares proto.Marshal (Deterministic) with the
// direct writer on a log of the bench workload.
func BenchmarkRecordMarshal(b *testing.B) {
	s := fixedClockServer()
	envs, _, _ := s.logsToEnvelopes(wireLogs(b, benchLogsRequest()), 1, nil)
	l := envs[0].GetLog()
	buf := make([]byte, 0, 1024)
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, _ = deterministic.MarshalAppend(buf[:0], l)
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, _ = appendLog(buf[:0], l)
		}
	})
}
