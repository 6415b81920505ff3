package ingest

import (
	"math"
	"math/rand"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// wireGen writes random OTLP requests in the wire format, driven by the
// generated types' descriptors so that every field of the OTLP version in
// go.mod occurs, those ingest does not keep included. It writes what a
// generated marshaller never does: fields repeated (merges), oneof members
// in any order, known fields with the wrong wire type, unknown fields and
// groups, invalid UTF-8, and, on request, damaged bytes.
type wireGen struct {
	r *rand.Rand
}

// Strings worth drawing: the keys and values the mapping looks at.
var genStrings = []string{
	"", "a", "ü", "service.name", "k8s.namespace.name", "k8s.pod.name", "k8s.node.name", "k8s.cluster.name",
	"k8s.container.name", "submit_id", "submit.id", "user_id", "problem_id", "lang", "submission_seq", "7", "x",
	"stage", "judge", "compile", "weird", "log_type", "audit", "event", "S1", "INFO", "warn", "error",
}

func (g *wireGen) message(md protoreflect.MessageDescriptor, depth int) []byte {
	var b []byte
	fields := md.Fields()
	for n := g.r.Intn(7); n > 0; n-- {
		if g.r.Intn(14) == 0 || fields.Len() == 0 {
			b = g.unknown(b, depth)
			continue
		}
		b = g.field(b, fields.Get(g.r.Intn(fields.Len())), depth)
	}
	return b
}

func (g *wireGen) field(b []byte, fd protoreflect.FieldDescriptor, depth int) []byte {
	num := fd.Number()
	if g.r.Intn(16) == 0 {
		return g.value(b, num, []protowire.Type{protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType}[g.r.Intn(4)], depth)
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if depth <= 0 {
			return b
		}
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, g.message(fd.Message(), depth-1))
	case protoreflect.StringKind:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		if g.r.Intn(40) == 0 {
			return protowire.AppendBytes(b, []byte{'a', 0xff})
		}
		return protowire.AppendString(b, genStrings[g.r.Intn(len(genStrings))])
	case protoreflect.BytesKind:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		v := make([]byte, []int{0, 8, 16, 16, 8, 3}[g.r.Intn(6)])
		if g.r.Intn(3) > 0 {
			g.r.Read(v)
		}
		return protowire.AppendBytes(b, v)
	case protoreflect.Fixed64Kind, protoreflect.DoubleKind, protoreflect.Sfixed64Kind:
		b = protowire.AppendTag(b, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, g.u64())
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		b = protowire.AppendTag(b, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(b, uint32(g.u64()))
	default: // varints: bool, enums, ints
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, g.u64())
	}
}

func (g *wireGen) u64() uint64 {
	switch g.r.Intn(6) {
	case 0:
		return 0
	case 1:
		return uint64(g.r.Intn(30))
	case 2:
		return math.MaxUint64 - uint64(g.r.Intn(3)) // negative ints and enums
	case 3:
		return 1_799_999_000_000_000_000 + uint64(g.r.Intn(1000))
	case 4:
		return 1 << 32
	}
	return g.r.Uint64()
}

// value writes any value of the given wire type.
func (g *wireGen) value(b []byte, num protowire.Number, typ protowire.Type, depth int) []byte {
	b = protowire.AppendTag(b, num, typ)
	switch typ {
	case protowire.VarintType:
		return protowire.AppendVarint(b, g.u64())
	case protowire.Fixed32Type:
		return protowire.AppendFixed32(b, uint32(g.u64()))
	case protowire.Fixed64Type:
		return protowire.AppendFixed64(b, g.u64())
	case protowire.StartGroupType:
		if depth > 0 {
			for n := g.r.Intn(3); n > 0; n-- {
				b = g.unknown(b, depth-1)
			}
		}
		return protowire.AppendTag(b, num, protowire.EndGroupType)
	}
	v := make([]byte, g.r.Intn(5))
	g.r.Read(v)
	return protowire.AppendBytes(b, v)
}

// unknown writes a field no OTLP message has here, now and then one that
// is not valid at all.
func (g *wireGen) unknown(b []byte, depth int) []byte {
	num := protowire.Number(20 + g.r.Intn(100))
	switch g.r.Intn(30) {
	case 0:
		num = protowire.MaxValidNumber
	case 1:
		return append(b, 0x00) // field number 0
	case 2:
		return protowire.AppendTag(b, num, protowire.EndGroupType)
	case 3:
		return protowire.AppendVarint(b, uint64(protowire.MaxValidNumber+1)<<3)
	}
	types := []protowire.Type{protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType, protowire.StartGroupType}
	return g.value(b, num, types[g.r.Intn(len(types))], depth)
}

// damage changes a few bytes of b, or cuts it short.
func (g *wireGen) damage(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	if g.r.Intn(4) == 0 {
		return b[:g.r.Intn(len(b))]
	}
	for n := 1 + g.r.Intn(3); n > 0; n-- {
		b[g.r.Intn(len(b))] = byte(g.r.Intn(256))
	}
	return b
}

// TestWireDecoder_MatchesProtoUnmarshalOnRandomRequests compares the wire
// decoder with the reference path on generated requests, as written and
// damaged: same verdict, same records byte for byte.
func TestWireDecoder_MatchesProtoUnmarshalOnRandomRequests(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 500
	}
	g := &wireGen{r: rand.New(rand.NewSource(16))}
	for _, tc := range []struct {
		name    string
		md      protoreflect.MessageDescriptor
		compare func(testing.TB, []byte) bool
	}{
		{"logs", (&collogspb.ExportLogsServiceRequest{}).ProtoReflect().Descriptor(), compareLogsDecoders},
		{"traces", (&coltracepb.ExportTraceServiceRequest{}).ProtoReflect().Descriptor(), compareTracesDecoders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted, damagedAccepted := 0, 0
			for i := 0; i < n; i++ {
				body := g.message(tc.md, 8)
				if tc.compare(t, body) {
					accepted++
				}
				if tc.compare(t, g.damage(body)) {
					damagedAccepted++
				}
			}
			// The generator must exercise both verdicts, or the test
			// compares nothing.
			if accepted < n/5 || accepted == n || damagedAccepted == 0 {
				t.Fatalf("%d of %d accepted, %d damaged: the generator is off", accepted, n, damagedAccepted)
			}
			t.Logf("%d of %d accepted, %d damaged", accepted, n, damagedAccepted)
		})
	}
}

// TestWireDecoder_NestingLimit checks that the wire decoder gives up at
// the nesting depth proto.Unmarshal does (protowire.DefaultRecursionLimit
// messages), not one level earlier or later.
func TestWireDecoder_NestingLimit(t *testing.T) {
	// request > ResourceLogs > ScopeLogs > LogRecord > body AnyValue: 5
	// levels; each array adds an ArrayValue and an AnyValue.
	nested := func(arrays int) []byte {
		var v []byte // the innermost AnyValue, empty
		for i := 0; i < arrays; i++ {
			arr := protowire.AppendBytes(protowire.AppendTag(nil, fieldListValues, protowire.BytesType), v)
			v = protowire.AppendBytes(protowire.AppendTag(nil, fieldAnyArray, protowire.BytesType), arr)
		}
		rec := protowire.AppendBytes(protowire.AppendTag(nil, fieldLogBody, protowire.BytesType), v)
		scope := protowire.AppendBytes(protowire.AppendTag(nil, fieldScopeRecords, protowire.BytesType), rec)
		res := protowire.AppendBytes(protowire.AppendTag(nil, fieldResourceScopes, protowire.BytesType), scope)
		return protowire.AppendBytes(protowire.AppendTag(nil, fieldRequestResources, protowire.BytesType), res)
	}
	limit := (protowire.DefaultRecursionLimit - 5) / 2
	for _, arrays := range []int{limit - 1, limit, limit + 1} {
		compareLogsDecoders(t, nested(arrays))
	}
	if _, err := decodeOTLPLogs(nested(limit), nil); err != nil {
		t.Fatalf("%d levels: %v", 5+2*limit, err)
	}
	if _, err := decodeOTLPLogs(nested(limit+1), nil); err == nil {
		t.Fatalf("%d levels accepted", 5+2*(limit+1))
	}
}
