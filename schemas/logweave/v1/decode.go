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
	if checkWire(b, tableOf(m.ProtoReflect().Descriptor()), 0) && m.UnmarshalVT(b) == nil {
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
// at most maxFastDepth deep. false sends the record to proto.Unmarshal.
func checkWire(b []byte, t *wireTable, depth int) bool {
	if t == nil || depth > maxFastDepth {
		return false
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if int(num) >= len(t.kinds) || t.kinds[num] == kindUnknown {
			return false
		}
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
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
