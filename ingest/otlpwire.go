package ingest

import (
	"errors"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// This file decodes OTLP protobuf export requests (the SDK exporters'
// default) by walking the wire format, into the few types below that the
// mapping reads, with attribute values decoded straight into logweave's
// own KeyValue and AnyValue. The generated OTLP types
// (go.opentelemetry.io/proto/otlp) cost an allocation per KeyValue and
// AnyValue plus a reflect.New per oneof wrapper, and then the mapping
// copied every value once more.
//
// It accepts and rejects exactly what proto.Unmarshal into the generated
// types does, and the records it leads to are byte for byte the ones the
// generated types led to (TestWireDecoder_MatchesProtoUnmarshal*: the
// fixtures, the stock SDK exporters' requests, generated requests as
// written and damaged; FuzzOTLPProtobuf):
//   - every field of the OTLP messages the request can hold is known here,
//     also those ingest does not keep (scopes, links, entity refs), so their
//     strings are checked for UTF-8 and their messages for nesting, as
//     proto.Unmarshal checks them;
//   - a known field with another wire type than its own is an unknown
//     field, skipped like any unknown field (groups included);
//   - a singular message seen twice is merged (a resource's attributes
//     concatenate), a oneof member replaces another member but merges into
//     itself, the last scalar wins;
//   - nesting deeper than protowire.DefaultRecursionLimit messages fails.
//
// Strings are substrings of one copy of the request (no per-string
// allocation, nothing points into a buffer someone else reuses); bytes
// fields alias the decoder's own copy of the body. Attribute values and
// records come from the request's requestScratch (otlparena.go), which is
// reused once the request is answered: nothing decoded may be kept past
// the answer.
//
// A field added to these OTLP messages in a newer go.opentelemetry.io/proto/otlp
// is skipped here as unknown, where proto.Unmarshal would check it. The
// generated-request comparison draws its fields from the generated types'
// descriptors, so a new string or message field (invalid UTF-8 in it
// rejected by one side only) should fail it after such an upgrade until
// the field is added here; check when upgrading.

// The field numbers, from the OTLP specification's .proto files
// (opentelemetry-proto: collector/{logs,trace}/v1, logs/v1, trace/v1,
// resource/v1, common/v1).
const (
	// ExportLogsServiceRequest, ExportTraceServiceRequest
	fieldRequestResources = 1
	// ResourceLogs, ResourceSpans
	fieldResourceResource  = 1
	fieldResourceScopes    = 2
	fieldResourceSchemaURL = 3
	// ScopeLogs, ScopeSpans
	fieldScopeScope     = 1
	fieldScopeRecords   = 2
	fieldScopeSchemaURL = 3
	// InstrumentationScope
	fieldInstrName    = 1
	fieldInstrVersion = 2
	fieldInstrAttrs   = 3
	fieldInstrDropped = 4
	// Resource
	fieldResAttrs      = 1
	fieldResDropped    = 2
	fieldResEntityRefs = 3
	// EntityRef
	fieldEntitySchemaURL = 1
	fieldEntityType      = 2
	fieldEntityIDKeys    = 3
	fieldEntityDescKeys  = 4
	// LogRecord
	fieldLogTime         = 1
	fieldLogSeverity     = 2
	fieldLogSeverityText = 3
	fieldLogBody         = 5
	fieldLogAttrs        = 6
	fieldLogDropped      = 7
	fieldLogFlags        = 8
	fieldLogTraceID      = 9
	fieldLogSpanID       = 10
	fieldLogObserved     = 11
	fieldLogEventName    = 12
	// Span
	fieldSpanTraceID       = 1
	fieldSpanSpanID        = 2
	fieldSpanTraceState    = 3
	fieldSpanParentID      = 4
	fieldSpanName          = 5
	fieldSpanKind          = 6
	fieldSpanStart         = 7
	fieldSpanEnd           = 8
	fieldSpanAttrs         = 9
	fieldSpanDroppedAttrs  = 10
	fieldSpanEvents        = 11
	fieldSpanDroppedEvents = 12
	fieldSpanLinks         = 13
	fieldSpanDroppedLinks  = 14
	fieldSpanStatus        = 15
	fieldSpanFlags         = 16
	// Span.Event
	fieldEventTime    = 1
	fieldEventName    = 2
	fieldEventAttrs   = 3
	fieldEventDropped = 4
	// Span.Link
	fieldLinkTraceID    = 1
	fieldLinkSpanID     = 2
	fieldLinkTraceState = 3
	fieldLinkAttrs      = 4
	fieldLinkDropped    = 5
	fieldLinkFlags      = 6
	// Status (1 is reserved)
	fieldStatusMessage = 2
	fieldStatusCode    = 3
	// KeyValue
	fieldKVKey         = 1
	fieldKVValue       = 2
	fieldKVKeyStrindex = 3
	// AnyValue (a oneof)
	fieldAnyString         = 1
	fieldAnyBool           = 2
	fieldAnyInt            = 3
	fieldAnyDouble         = 4
	fieldAnyArray          = 5
	fieldAnyKvlist         = 6
	fieldAnyBytes          = 7
	fieldAnyStringStrindex = 8
	// ArrayValue, KeyValueList
	fieldListValues = 1
)

// Errors worded as proto.Unmarshal's.
var (
	errWireDecode  = errors.New("proto: cannot parse invalid wire-format data")
	errWireUTF8    = errors.New("proto: string field contains invalid UTF-8")
	errWireTooDeep = errors.New("proto: exceeded maximum recursion depth")
)

// otlpLogs is an ExportLogsServiceRequest as the mapping reads it: the
// records of each resource in request order (scopes only delimit them).
type otlpLogs struct {
	resources []otlpResourceLogs
	records   int
	// scratch is what the request's values come from, and where the
	// mapping takes its records from.
	scratch *requestScratch
}

type otlpResourceLogs struct {
	attrs   []*v1.KeyValue
	records []otlpLogRecord
}

// otlpLogRecord is an OTLP LogRecord; body and attribute values are
// already logweave values (nil where OTLP has no value: absent, empty, or
// a string table index, which only OTLP profiles use).
type otlpLogRecord struct {
	timeUnixNano         uint64
	observedTimeUnixNano uint64
	severityNumber       int32
	severityText         string
	body                 *v1.AnyValue
	attrs                []*v1.KeyValue
	traceID, spanID      []byte
}

// otlpTraces is an ExportTraceServiceRequest as the mapping reads it.
type otlpTraces struct {
	resources []otlpResourceSpans
	spans     int
	scratch   *requestScratch
}

type otlpResourceSpans struct {
	attrs []*v1.KeyValue
	spans []otlpSpan
}

type otlpSpan struct {
	traceID, spanID, parentSpanID []byte
	name                          string
	kind                          int32
	startTimeUnixNano             uint64
	endTimeUnixNano               uint64
	attrs                         []*v1.KeyValue
	events                        []*v1.SpanEvent
	status                        *v1.Status // nil when the span has none
}

// wireDecoder decodes one request. Its values point into buf and text,
// so buf must be the decoder's own (a body read for this request, or a
// copy), and come from sc's slabs.
type wireDecoder struct {
	buf  []byte
	text string // string(buf): strings are its substrings
	// scratch holds the attributes of the messages being decoded, nested
	// ones after their parents'; each message's are copied out exactly
	// sized when it ends.
	scratch []*v1.KeyValue
	arena   *wireArena
	sc      *requestScratch
}

// newWireDecoder returns a decoder for body, which it keeps (the caller
// must not change body afterwards), allocating from sc.
func newWireDecoder(body []byte, sc *requestScratch) *wireDecoder {
	return &wireDecoder{buf: body, text: string(body), scratch: sc.attrs[:0], arena: &sc.arena, sc: sc}
}

// decodeOTLPLogs decodes an OTLP/protobuf logs request from body, which
// the result keeps, with values from sc (nil: fresh ones).
func decodeOTLPLogs(body []byte, sc *requestScratch) (*otlpLogs, error) {
	req := &otlpLogs{}
	if sc == nil {
		sc = &requestScratch{}
	}
	if err := newWireDecoder(body, sc).logsRequest(req); err != nil {
		return nil, err
	}
	return req, nil
}

// decodeOTLPTraces is decodeOTLPLogs for a traces request.
func decodeOTLPTraces(body []byte, sc *requestScratch) (*otlpTraces, error) {
	req := &otlpTraces{}
	if sc == nil {
		sc = &requestScratch{}
	}
	if err := newWireDecoder(body, sc).tracesRequest(req); err != nil {
		return nil, err
	}
	return req, nil
}

// field is one decoded tag.
type field struct {
	num protowire.Number
	typ protowire.Type
}

// next reads the tag at the start of b, as proto.Unmarshal does: field
// numbers outside 1..2^29-1 and a stray end-group are malformed.
func next(b []byte) (field, int, error) {
	var (
		v uint64
		n int
	)
	if len(b) > 0 && b[0] < 0x80 {
		v, n = uint64(b[0]), 1
	} else {
		v, n = protowire.ConsumeVarint(b)
		if n < 0 {
			return field{}, 0, errWireDecode
		}
	}
	num := v >> 3
	if num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) {
		return field{}, 0, errWireDecode
	}
	typ := protowire.Type(v & 7)
	if typ == protowire.EndGroupType {
		return field{}, 0, errWireDecode
	}
	return field{protowire.Number(num), typ}, n, nil
}

// skip consumes the value of a field the message does not know (or knows
// with another wire type).
func skip(f field, b []byte) (int, error) {
	n := protowire.ConsumeFieldValue(f.num, f.typ, b)
	if n < 0 {
		return 0, errWireDecode
	}
	return n, nil
}

func consumeBytes(b []byte) ([]byte, int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, errWireDecode
	}
	return v, n, nil
}

func consumeVarint(b []byte) (uint64, int, error) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1, nil
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, errWireDecode
	}
	return v, n, nil
}

func consumeFixed64(b []byte) (uint64, int, error) {
	v, n := protowire.ConsumeFixed64(b)
	if n < 0 {
		return 0, 0, errWireDecode
	}
	return v, n, nil
}

func consumeFixed32(b []byte) (uint32, int, error) {
	v, n := protowire.ConsumeFixed32(b)
	if n < 0 {
		return 0, 0, errWireDecode
	}
	return v, n, nil
}

// str returns v, a sub-slice of d.buf, as a substring of d.text after
// checking it is UTF-8, as proto3 requires of string fields.
func (d *wireDecoder) str(v []byte) (string, error) {
	if !utf8.Valid(v) {
		return "", errWireUTF8
	}
	off := cap(d.buf) - cap(v)
	return d.text[off : off+len(v)], nil
}

// checkString consumes a string field the mapping does not keep.
func checkString(b []byte) (int, error) {
	v, n, err := consumeBytes(b)
	if err != nil {
		return 0, err
	}
	if !utf8.Valid(v) {
		return 0, errWireUTF8
	}
	return n, nil
}

// ids are bytes fields; they alias the decoder's buffer, capacity capped
// so that nothing appends into the bytes after them.
func ownBytes(v []byte) []byte { return v[:len(v):len(v)] }

// enter counts one level of message nesting.
func enter(depth *int) error {
	if *depth--; *depth < 0 {
		return errWireTooDeep
	}
	return nil
}

// decodeMessage walks one message, handing every field to fn, which
// returns how many bytes of the value it consumed, or ok=false for a
// field it does not know with that wire type (skipped).
func decodeMessage(b []byte, fn func(f field, b []byte) (n int, ok bool, err error)) error {
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		n, ok, err := fn(f, b)
		if err != nil {
			return err
		}
		if !ok {
			if n, err = skip(f, b); err != nil {
				return err
			}
		}
		b = b[n:]
	}
	return nil
}

// logsRequest decodes the decoder's buffer as an ExportLogsServiceRequest.
func (d *wireDecoder) logsRequest(req *otlpLogs) error {
	req.scratch = d.sc
	defer d.keepStack()
	depth := protowire.DefaultRecursionLimit
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(d.buf, func(f field, b []byte) (int, bool, error) {
		if f.num != fieldRequestResources || f.typ != protowire.BytesType {
			return 0, false, nil
		}
		v, n, err := consumeBytes(b)
		if err != nil {
			return 0, false, err
		}
		req.resources = append(req.resources, otlpResourceLogs{})
		rl := &req.resources[len(req.resources)-1]
		if err := d.resourceLogs(v, rl, depth); err != nil {
			return 0, false, err
		}
		req.records += len(rl.records)
		return n, true, nil
	})
}

func (d *wireDecoder) resourceLogs(b []byte, rl *otlpResourceLogs, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	// The records of every resource are decoded into the scratch's one
	// list; this resource's are the part added while decoding it.
	start := len(d.sc.logRecords)
	defer func() {
		end := len(d.sc.logRecords)
		rl.records = d.sc.logRecords[start:end:end]
	}()
	return decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.typ != protowire.BytesType {
			return 0, false, nil
		}
		switch f.num {
		case fieldResourceResource:
			v, n, err := consumeBytes(b)
			if err == nil {
				err = d.resource(v, &rl.attrs, depth)
			}
			return n, true, err
		case fieldResourceScopes:
			v, n, err := consumeBytes(b)
			if err == nil {
				err = d.scopeLogs(v, rl, depth)
			}
			return n, true, err
		case fieldResourceSchemaURL:
			n, err := checkString(b)
			return n, true, err
		}
		return 0, false, nil
	})
}

func (d *wireDecoder) scopeLogs(b []byte, rl *otlpResourceLogs, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.typ != protowire.BytesType {
			return 0, false, nil
		}
		switch f.num {
		case fieldScopeScope:
			v, n, err := consumeBytes(b)
			if err == nil {
				err = d.instrumentationScope(v, depth)
			}
			return n, true, err
		case fieldScopeRecords:
			v, n, err := consumeBytes(b)
			if err != nil {
				return 0, false, err
			}
			d.sc.logRecords = append(d.sc.logRecords, otlpLogRecord{})
			return n, true, d.logRecord(v, &d.sc.logRecords[len(d.sc.logRecords)-1], depth)
		case fieldScopeSchemaURL:
			n, err := checkString(b)
			return n, true, err
		}
		return 0, false, nil
	})
}

func (d *wireDecoder) logRecord(b []byte, lr *otlpLogRecord, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	var body *v1.AnyValue
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.typ == protowire.Fixed64Type && (f.num == fieldLogTime || f.num == fieldLogObserved):
			var t uint64
			t, n, err = consumeFixed64(b)
			if f.num == fieldLogTime {
				lr.timeUnixNano = t
			} else {
				lr.observedTimeUnixNano = t
			}
			return n, true, err
		case f.typ == protowire.VarintType && f.num == fieldLogSeverity:
			var v uint64
			v, n, err = consumeVarint(b)
			lr.severityNumber = int32(v)
			return n, true, err
		case f.typ == protowire.VarintType && f.num == fieldLogDropped:
			_, n, err = consumeVarint(b)
			return n, true, err
		case f.typ == protowire.Fixed32Type && f.num == fieldLogFlags:
			_, n, err = consumeFixed32(b)
			return n, true, err
		case f.typ != protowire.BytesType:
			return 0, false, nil
		}
		var v []byte
		if v, n, err = consumeBytes(b); err != nil {
			return 0, false, err
		}
		switch f.num {
		case fieldLogSeverityText:
			lr.severityText, err = d.str(v)
		case fieldLogBody:
			if body == nil {
				body = d.arena.anyValue()
			}
			err = d.anyValue(v, body, depth)
		case fieldLogAttrs:
			err = d.keyValue(v, depth)
		case fieldLogTraceID:
			lr.traceID = ownBytes(v)
		case fieldLogSpanID:
			lr.spanID = ownBytes(v)
		case fieldLogEventName:
			_, err = d.str(v)
		default:
			return 0, false, nil
		}
		return n, true, err
	})
	lr.attrs = d.popAttrs(mark, nil)
	lr.body = valueOrNil(body)
	return err
}

// resource decodes a Resource, appending its attributes to attrs (a
// resource seen twice in one ResourceLogs merges).
func (d *wireDecoder) resource(b []byte, attrs *[]*v1.KeyValue, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.num == fieldResDropped && f.typ == protowire.VarintType:
			_, n, err = consumeVarint(b)
			return n, true, err
		case f.typ != protowire.BytesType:
			return 0, false, nil
		}
		var v []byte
		if v, n, err = consumeBytes(b); err != nil {
			return 0, false, err
		}
		switch f.num {
		case fieldResAttrs:
			err = d.keyValue(v, depth)
		case fieldResEntityRefs:
			err = entityRef(v, depth)
		default:
			return 0, false, nil
		}
		return n, true, err
	})
	*attrs = d.popAttrs(mark, *attrs)
	return err
}

// entityRef checks an EntityRef, which logweave does not keep.
func entityRef(b []byte, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.typ != protowire.BytesType {
			return 0, false, nil
		}
		switch f.num {
		case fieldEntitySchemaURL, fieldEntityType, fieldEntityIDKeys, fieldEntityDescKeys:
			n, err := checkString(b)
			return n, true, err
		}
		return 0, false, nil
	})
}

// instrumentationScope checks an InstrumentationScope, which logweave does
// not keep.
func (d *wireDecoder) instrumentationScope(b []byte, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.num == fieldInstrDropped && f.typ == protowire.VarintType:
			_, n, err = consumeVarint(b)
			return n, true, err
		case f.typ != protowire.BytesType:
			return 0, false, nil
		}
		switch f.num {
		case fieldInstrName, fieldInstrVersion:
			n, err = checkString(b)
			return n, true, err
		case fieldInstrAttrs:
			var v []byte
			if v, n, err = consumeBytes(b); err == nil {
				err = d.keyValue(v, depth)
			}
			return n, true, err
		}
		return 0, false, nil
	})
	d.scratch = d.scratch[:mark]
	return err
}

// keyValue decodes a KeyValue onto the scratch attributes.
func (d *wireDecoder) keyValue(b []byte, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	kv := d.arena.keyValue()
	d.scratch = append(d.scratch, kv)
	var val *v1.AnyValue
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.num == fieldKVKeyStrindex && f.typ == protowire.VarintType:
			_, n, err = consumeVarint(b)
			return n, true, err
		case f.typ != protowire.BytesType || (f.num != fieldKVKey && f.num != fieldKVValue):
			return 0, false, nil
		}
		var v []byte
		if v, n, err = consumeBytes(b); err != nil {
			return 0, false, err
		}
		if f.num == fieldKVKey {
			kv.Key, err = d.str(v)
			return n, true, err
		}
		if val == nil {
			val = d.arena.anyValue()
		}
		return n, true, d.anyValue(v, val, depth)
	})
	kv.Value = valueOrNil(val)
	return err
}

// valueOrNil is v, or nil when v holds nothing logweave keeps: the mapping
// leaves out values that are absent, empty or a string table index.
func valueOrNil(v *v1.AnyValue) *v1.AnyValue {
	if v == nil || v.Value == nil {
		return nil
	}
	return v
}

// anyValue decodes an AnyValue into av, merging as proto.Unmarshal does:
// another member of the oneof replaces the value, the same message member
// (array, kvlist) is appended to. A string table index (OTLP profiles
// only) has no logweave value and leaves av empty.
func (d *wireDecoder) anyValue(b []byte, av *v1.AnyValue, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch f.typ {
		case protowire.VarintType:
			var v uint64
			switch f.num {
			case fieldAnyBool:
				v, n, err = consumeVarint(b)
				av.Value = &v1.AnyValue_BoolValue{BoolValue: protowire.DecodeBool(v)}
			case fieldAnyInt:
				v, n, err = consumeVarint(b)
				av.Value = d.arena.intValue(int64(v))
			case fieldAnyStringStrindex:
				_, n, err = consumeVarint(b)
				av.Value = nil
			default:
				return 0, false, nil
			}
			return n, true, err
		case protowire.Fixed64Type:
			if f.num != fieldAnyDouble {
				return 0, false, nil
			}
			var v uint64
			v, n, err = consumeFixed64(b)
			av.Value = &v1.AnyValue_DoubleValue{DoubleValue: math.Float64frombits(v)}
			return n, true, err
		case protowire.BytesType:
		default:
			return 0, false, nil
		}
		var v []byte
		if v, n, err = consumeBytes(b); err != nil {
			return 0, false, err
		}
		switch f.num {
		case fieldAnyString:
			var s string
			if s, err = d.str(v); err == nil {
				av.Value = d.arena.stringValue(s)
			}
		case fieldAnyBytes:
			av.Value = &v1.AnyValue_BytesValue{BytesValue: ownBytes(v)}
		case fieldAnyArray:
			arr, isArr := av.Value.(*v1.AnyValue_ArrayValue)
			if !isArr {
				arr = &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{}}
			}
			if err = d.arrayValue(v, arr.ArrayValue, depth); err == nil {
				av.Value = arr
			}
		case fieldAnyKvlist:
			kvl, isKvl := av.Value.(*v1.AnyValue_KvlistValue)
			if !isKvl {
				kvl = &v1.AnyValue_KvlistValue{KvlistValue: &v1.KeyValueList{}}
			}
			if err = d.kvlistValue(v, kvl.KvlistValue, depth); err == nil {
				av.Value = kvl
			}
		default:
			return 0, false, nil
		}
		return n, true, err
	})
}

// kvlistValue appends the values of a KeyValueList to kvl.
func (d *wireDecoder) kvlistValue(b []byte, kvl *v1.KeyValueList, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	err := decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.num != fieldListValues || f.typ != protowire.BytesType {
			return 0, false, nil
		}
		v, n, err := consumeBytes(b)
		if err == nil {
			err = d.keyValue(v, depth)
		}
		return n, true, err
	})
	kvl.Values = d.popAttrs(mark, kvl.Values)
	return err
}

// arrayValue appends the values of an ArrayValue to arr. Each element
// without a logweave value is a nil element, as the mapping keeps them.
func (d *wireDecoder) arrayValue(b []byte, arr *v1.ArrayValue, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	if arr.Values == nil {
		arr.Values = []*v1.AnyValue{}
	}
	return decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.num != fieldListValues || f.typ != protowire.BytesType {
			return 0, false, nil
		}
		v, n, err := consumeBytes(b)
		if err != nil {
			return 0, false, err
		}
		av := d.arena.anyValue()
		err = d.anyValue(v, av, depth)
		arr.Values = append(arr.Values, valueOrNil(av))
		return n, true, err
	})
}

// keepStack hands the attribute stack (grown while decoding) back to the
// scratch, for the next request.
func (d *wireDecoder) keepStack() {
	clear(d.scratch[:cap(d.scratch)])
	d.sc.attrs = d.scratch[:0]
}

// popAttrs moves the scratch attributes from mark on to the end of dst.
func (d *wireDecoder) popAttrs(mark int, dst []*v1.KeyValue) []*v1.KeyValue {
	kvs := d.scratch[mark:]
	if len(kvs) > 0 {
		if dst == nil {
			dst = d.arena.keyValues(len(kvs))
			copy(dst, kvs)
		} else {
			dst = append(dst, kvs...)
		}
	}
	clear(kvs)
	d.scratch = d.scratch[:mark]
	return dst
}

// tracesRequest decodes the decoder's buffer as an
// ExportTraceServiceRequest.
func (d *wireDecoder) tracesRequest(req *otlpTraces) error {
	req.scratch = d.sc
	defer d.keepStack()
	depth := protowire.DefaultRecursionLimit
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(d.buf, func(f field, b []byte) (int, bool, error) {
		if f.num != fieldRequestResources || f.typ != protowire.BytesType {
			return 0, false, nil
		}
		v, n, err := consumeBytes(b)
		if err != nil {
			return 0, false, err
		}
		req.resources = append(req.resources, otlpResourceSpans{})
		rs := &req.resources[len(req.resources)-1]
		if err := d.resourceSpans(v, rs, depth); err != nil {
			return 0, false, err
		}
		req.spans += len(rs.spans)
		return n, true, nil
	})
}

func (d *wireDecoder) resourceSpans(b []byte, rs *otlpResourceSpans, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	start := len(d.sc.spans)
	defer func() {
		end := len(d.sc.spans)
		rs.spans = d.sc.spans[start:end:end]
	}()
	return decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.typ != protowire.BytesType {
			return 0, false, nil
		}
		switch f.num {
		case fieldResourceResource:
			v, n, err := consumeBytes(b)
			if err == nil {
				err = d.resource(v, &rs.attrs, depth)
			}
			return n, true, err
		case fieldResourceScopes:
			v, n, err := consumeBytes(b)
			if err == nil {
				err = d.scopeSpans(v, rs, depth)
			}
			return n, true, err
		case fieldResourceSchemaURL:
			n, err := checkString(b)
			return n, true, err
		}
		return 0, false, nil
	})
}

func (d *wireDecoder) scopeSpans(b []byte, rs *otlpResourceSpans, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(b, func(f field, b []byte) (int, bool, error) {
		if f.typ != protowire.BytesType {
			return 0, false, nil
		}
		switch f.num {
		case fieldScopeScope:
			v, n, err := consumeBytes(b)
			if err == nil {
				err = d.instrumentationScope(v, depth)
			}
			return n, true, err
		case fieldScopeRecords:
			v, n, err := consumeBytes(b)
			if err != nil {
				return 0, false, err
			}
			d.sc.spans = append(d.sc.spans, otlpSpan{})
			return n, true, d.span(v, &d.sc.spans[len(d.sc.spans)-1], depth)
		case fieldScopeSchemaURL:
			n, err := checkString(b)
			return n, true, err
		}
		return 0, false, nil
	})
}

func (d *wireDecoder) span(b []byte, sp *otlpSpan, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch f.typ {
		case protowire.Fixed64Type:
			var t uint64
			switch f.num {
			case fieldSpanStart:
				t, n, err = consumeFixed64(b)
				sp.startTimeUnixNano = t
			case fieldSpanEnd:
				t, n, err = consumeFixed64(b)
				sp.endTimeUnixNano = t
			default:
				return 0, false, nil
			}
			return n, true, err
		case protowire.VarintType:
			var v uint64
			switch f.num {
			case fieldSpanKind:
				v, n, err = consumeVarint(b)
				sp.kind = int32(v)
			case fieldSpanDroppedAttrs, fieldSpanDroppedEvents, fieldSpanDroppedLinks:
				_, n, err = consumeVarint(b)
			default:
				return 0, false, nil
			}
			return n, true, err
		case protowire.Fixed32Type:
			if f.num != fieldSpanFlags {
				return 0, false, nil
			}
			_, n, err = consumeFixed32(b)
			return n, true, err
		case protowire.BytesType:
		default:
			return 0, false, nil
		}
		var v []byte
		if v, n, err = consumeBytes(b); err != nil {
			return 0, false, err
		}
		switch f.num {
		case fieldSpanTraceID:
			sp.traceID = ownBytes(v)
		case fieldSpanSpanID:
			sp.spanID = ownBytes(v)
		case fieldSpanParentID:
			sp.parentSpanID = ownBytes(v)
		case fieldSpanTraceState:
			_, err = d.str(v)
		case fieldSpanName:
			sp.name, err = d.str(v)
		case fieldSpanAttrs:
			err = d.keyValue(v, depth)
		case fieldSpanEvents:
			ev := &v1.SpanEvent{}
			sp.events = append(sp.events, ev)
			err = d.spanEvent(v, ev, depth)
		case fieldSpanLinks:
			err = d.spanLink(v, depth)
		case fieldSpanStatus:
			if sp.status == nil {
				sp.status = &v1.Status{}
			}
			err = d.status(v, sp.status, depth)
		default:
			return 0, false, nil
		}
		return n, true, err
	})
	sp.attrs = d.popAttrs(mark, nil)
	return err
}

func (d *wireDecoder) spanEvent(b []byte, ev *v1.SpanEvent, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.num == fieldEventTime && f.typ == protowire.Fixed64Type:
			ev.TimeUnixNano, n, err = consumeFixed64(b)
			return n, true, err
		case f.num == fieldEventDropped && f.typ == protowire.VarintType:
			_, n, err = consumeVarint(b)
			return n, true, err
		case f.typ != protowire.BytesType || (f.num != fieldEventName && f.num != fieldEventAttrs):
			return 0, false, nil
		}
		var v []byte
		if v, n, err = consumeBytes(b); err != nil {
			return 0, false, err
		}
		if f.num == fieldEventName {
			ev.Name, err = d.str(v)
		} else {
			err = d.keyValue(v, depth)
		}
		return n, true, err
	})
	ev.Attributes = d.popAttrs(mark, nil)
	return err
}

// spanLink checks a Span.Link, which logweave does not keep.
func (d *wireDecoder) spanLink(b []byte, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	mark := len(d.scratch)
	err := decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.num == fieldLinkDropped && f.typ == protowire.VarintType:
			_, n, err = consumeVarint(b)
			return n, true, err
		case f.num == fieldLinkFlags && f.typ == protowire.Fixed32Type:
			_, n, err = consumeFixed32(b)
			return n, true, err
		case f.typ != protowire.BytesType:
			return 0, false, nil
		}
		switch f.num {
		case fieldLinkTraceID, fieldLinkSpanID:
			_, n, err = consumeBytes(b)
		case fieldLinkTraceState:
			n, err = checkString(b)
		case fieldLinkAttrs:
			var v []byte
			if v, n, err = consumeBytes(b); err == nil {
				err = d.keyValue(v, depth)
			}
		default:
			return 0, false, nil
		}
		return n, true, err
	})
	d.scratch = d.scratch[:mark]
	return err
}

func (d *wireDecoder) status(b []byte, st *v1.Status, depth int) error {
	if err := enter(&depth); err != nil {
		return err
	}
	return decodeMessage(b, func(f field, b []byte) (n int, ok bool, err error) {
		switch {
		case f.num == fieldStatusCode && f.typ == protowire.VarintType:
			var v uint64
			v, n, err = consumeVarint(b)
			st.Code = v1.StatusCode(int32(v))
			return n, true, err
		case f.num == fieldStatusMessage && f.typ == protowire.BytesType:
			var v []byte
			if v, n, err = consumeBytes(b); err == nil {
				st.Message, err = d.str(v)
			}
			return n, true, err
		}
		return 0, false, nil
	})
}
