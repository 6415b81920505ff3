package logweavev1

import (
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Message is a logweave record with a generated fast decoder
// (*_vtproto.pb.go, from protoc-gen-go-vtproto).
type Message interface {
	proto.Message
	UnmarshalVT([]byte) error
}

// Unmarshal decodes b into m (which must be empty) and accepts and rejects
// exactly what proto.Unmarshal does, in about half its CPU: the enricher
// and the sinks decode every record they read.
//
// The generated UnmarshalVT does not check that strings are valid UTF-8
// (proto3 requires it, proto.Unmarshal checks it, and proto.Marshal refuses
// to write a record that breaks it) and has no nesting limit. So a quick
// walk over the wire bytes checks both first; only a record that passes it
// and UnmarshalVT takes the fast path. Anything else (malformed, invalid
// UTF-8, nested deeper than maxFastDepth, a field with an unexpected wire
// type, a field this version does not know) is decoded again by
// proto.Unmarshal, whose verdict, error and result are the answer (it
// re-encodes an unknown field's tag, UnmarshalVT keeps it as it came). TestUnmarshal_MatchesProto and FuzzUnmarshal hold it to
// that.
func Unmarshal(b []byte, m Message) error {
	if checkWire(b, tableFor(m), 0) && m.UnmarshalVT(b) == nil {
		return nil
	}
	proto.Reset(m)
	return proto.Unmarshal(b, m)
}

// maxFastDepth bounds the nesting the fast path accepts; deeper records
// (never written by logweave: attribute values nest a few levels) go to
// proto.Unmarshal and its recursion limit.
const maxFastDepth = 64

// fieldKind is what checkWire must look at in a length-delimited field.
type fieldKind uint8

const (
	kindUnknown fieldKind = iota // not a field of this version: fall back
	kindScalar                   // numbers, enums, bools, bytes
	kindString                   // must be valid UTF-8
	kindMessage                  // walked with its own table
)

// wireTable tells checkWire, per field number of one message, what its
// length-delimited values hold.
type wireTable struct {
	kinds []fieldKind // by field number
	subs  []*wireTable
}

var (
	// ready holds the tables of the messages decoded so far, read
	// without a lock on every record.
	ready sync.Map // protoreflect.FullName -> *wireTable
	// tablesMu guards tables, the tables under construction.
	tablesMu sync.Mutex
	tables   = map[protoreflect.FullName]*wireTable{}
)

// The tables of the records the enricher and the sinks decode, looked up
// without hashing a name per record.
var (
	envelopeTable = sync.OnceValue(func() *wireTable { return tableOf((*Envelope)(nil).ProtoReflect().Descriptor()) })
	enrichedTable = sync.OnceValue(func() *wireTable { return tableOf((*EnrichedRecord)(nil).ProtoReflect().Descriptor()) })
)

func tableFor(m Message) *wireTable {
	switch m.(type) {
	case *Envelope:
		return envelopeTable()
	case *EnrichedRecord:
		return enrichedTable()
	}
	return tableOf(m.ProtoReflect().Descriptor())
}

// tableOf returns the table of a message descriptor, building it (and its
// nested messages' tables) on first use.
func tableOf(md protoreflect.MessageDescriptor) *wireTable {
	if t, ok := ready.Load(md.FullName()); ok {
		return t.(*wireTable)
	}
	tablesMu.Lock()
	defer tablesMu.Unlock()
	t := buildTable(md)
	ready.Store(md.FullName(), t)
	return t
}

func buildTable(md protoreflect.MessageDescriptor) *wireTable {
	if t, ok := tables[md.FullName()]; ok {
		return t
	}
	fields := md.Fields()
	maxNum := 0
	for i := 0; i < fields.Len(); i++ {
		maxNum = max(maxNum, int(fields.Get(i).Number()))
	}
	t := &wireTable{kinds: make([]fieldKind, maxNum+1), subs: make([]*wireTable, maxNum+1)}
	tables[md.FullName()] = t // before the fields: messages nest recursively
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		t.kinds[f.Number()] = kindScalar
		switch {
		case f.IsMap():
			// No maps in these schemas; the fast path does not handle them.
			t.kinds[f.Number()] = kindMessage
			t.subs[f.Number()] = nil
		case f.Kind() == protoreflect.StringKind:
			t.kinds[f.Number()] = kindString
		case f.Kind() == protoreflect.MessageKind:
			t.kinds[f.Number()] = kindMessage
			t.subs[f.Number()] = buildTable(f.Message())
		}
	}
	return t
}

// checkWire reports whether b is well-formed wire data of known fields
// whose strings, in this and every nested message, are valid UTF-8, nested
// at most maxFastDepth deep. false sends the record to proto.Unmarshal, so
// it may refuse what is merely unusual (overlong varints, groups): the
// common one-byte tags and lengths are read inline.
func checkWire(b []byte, t *wireTable, depth int) bool {
	if t == nil || depth > maxFastDepth {
		return false
	}
	for len(b) > 0 {
		var (
			num protowire.Number
			typ protowire.Type
		)
		if b[0] < 0x80 {
			num, typ = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
			b = b[1:]
		} else {
			var n int
			if num, typ, n = protowire.ConsumeTag(b); n < 0 {
				return false
			}
			b = b[n:]
		}
		if int(num) >= len(t.kinds) || t.kinds[num] == kindUnknown {
			return false
		}
		switch typ {
		case protowire.VarintType:
			i := 0
			for i < len(b) && i < 10 && b[i] >= 0x80 {
				i++
			}
			if i >= len(b) || i == 10 || (i == 9 && b[9] > 1) {
				return false // truncated, or past 64 bits (UnmarshalVT would drop the excess)
			}
			b = b[i+1:]
			continue
		case protowire.Fixed64Type:
			if len(b) < 8 {
				return false
			}
			b = b[8:]
			continue
		case protowire.Fixed32Type:
			if len(b) < 4 {
				return false
			}
			b = b[4:]
			continue
		case protowire.BytesType:
		default:
			return false // groups: not in these schemas
		}
		var size uint64
		if len(b) > 0 && b[0] < 0x80 {
			size, b = uint64(b[0]), b[1:]
		} else {
			var n int
			if size, n = protowire.ConsumeVarint(b); n < 0 {
				return false
			}
			b = b[n:]
		}
		if size > uint64(len(b)) {
			return false
		}
		v := b[:size]
		b = b[size:]
		switch t.kinds[num] {
		case kindString:
			if !utf8.Valid(v) {
				return false
			}
		case kindMessage:
			if !checkWire(v, t.subs[num], depth+1) {
				return false
			}
		}
	}
	return true
}
