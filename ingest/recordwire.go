package ingest

import (
	"errors"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// This file writes a record's deterministic protobuf encoding directly,
// byte for byte what proto.MarshalOptions{Deterministic: true} writes for
// the Log and Span messages the mapping builds (fields in number order,
// proto3 zero values left out, oneof members and optional fields written
// when set; TestAppendRecord_MatchesProtoMarshal compares the two on
// generated records with every field of the schema set). It knows the
// fields of schemas/logweave/v1 as they are: a field added there fails
// that test until it is added here.
//
// Records with something proto.Marshal refuses (a string that is not
// UTF-8) are not written here (errRecordNeedsProto): the caller marshals
// them with proto.Marshal, which gives its own error.

var errRecordNeedsProto = errors.New("record needs proto.Marshal")

// recordWriter appends one record; err is set by the first string that
// is not UTF-8.
type recordWriter struct {
	b   []byte
	err error
}

// appendLog appends l's deterministic encoding to b.
func appendLog(b []byte, l *v1.Log) ([]byte, error) {
	w := recordWriter{b: b}
	w.log(l)
	return w.b, w.err
}

// appendSpan appends sp's deterministic encoding to b.
func appendSpan(b []byte, sp *v1.Span) ([]byte, error) {
	w := recordWriter{b: b}
	w.span(sp)
	return w.b, w.err
}

func (w *recordWriter) fixed64(num protowire.Number, v uint64) {
	if v != 0 {
		w.b = protowire.AppendTag(w.b, num, protowire.Fixed64Type)
		w.b = protowire.AppendFixed64(w.b, v)
	}
}

// enum writes an enum (an int32, negative ones sign-extended) unless 0.
func (w *recordWriter) enum(num protowire.Number, v int32) {
	if v != 0 {
		w.b = protowire.AppendTag(w.b, num, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, uint64(int64(v)))
	}
}

func (w *recordWriter) bytes(num protowire.Number, v []byte) {
	if len(v) != 0 {
		w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
		w.b = protowire.AppendBytes(w.b, v)
	}
}

func (w *recordWriter) string(num protowire.Number, v string) {
	if len(v) != 0 {
		w.stringAlways(num, v)
	}
}

func (w *recordWriter) stringAlways(num protowire.Number, v string) {
	if !utf8.ValidString(v) {
		w.err = errRecordNeedsProto
	}
	w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
	w.b = protowire.AppendString(w.b, v)
}

// begin starts a length-delimited field whose length is written by end,
// once known: one byte is reserved, enough below 128 bytes, and the
// content moves when the length needs more.
func (w *recordWriter) begin(num protowire.Number) int {
	w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
	w.b = append(w.b, 0)
	return len(w.b)
}

func (w *recordWriter) end(start int) {
	n := len(w.b) - start
	if n < 0x80 {
		w.b[start-1] = byte(n)
		return
	}
	k := protowire.SizeVarint(uint64(n))
	w.b = append(w.b, make([]byte, k-1)...)
	copy(w.b[start-1+k:], w.b[start:start+n])
	protowire.AppendVarint(w.b[:start-1], uint64(n))
}

func (w *recordWriter) log(l *v1.Log) {
	w.fixed64(1, l.TimeUnixNano)
	w.fixed64(2, l.ObservedTimeUnixNano)
	w.enum(3, int32(l.SeverityNumber))
	w.string(4, l.SeverityText)
	w.string(5, l.Body)
	w.bytes(6, l.TraceId)
	w.bytes(7, l.SpanId)
	w.string(8, l.Service)
	if l.Resource != nil {
		w.resource(9, l.Resource)
	}
	w.enum(10, int32(l.LogType))
	w.keyValues(11, l.Attributes)
	if l.Submission != nil {
		w.submission(12, l.Submission)
	}
}

func (w *recordWriter) span(sp *v1.Span) {
	w.bytes(1, sp.TraceId)
	w.bytes(2, sp.SpanId)
	w.bytes(3, sp.ParentSpanId)
	w.string(4, sp.Name)
	w.enum(5, int32(sp.Kind))
	w.fixed64(6, sp.StartTimeUnixNano)
	w.fixed64(7, sp.EndTimeUnixNano)
	if st := sp.Status; st != nil {
		start := w.begin(8)
		w.enum(1, int32(st.Code))
		w.string(2, st.Message)
		w.end(start)
	}
	w.string(9, sp.Service)
	if sp.Resource != nil {
		w.resource(10, sp.Resource)
	}
	w.keyValues(11, sp.Attributes)
	for _, ev := range sp.Events {
		start := w.begin(12)
		if ev != nil {
			w.fixed64(1, ev.TimeUnixNano)
			w.string(2, ev.Name)
			w.keyValues(3, ev.Attributes)
		}
		w.end(start)
	}
	if sp.Submission != nil {
		w.submission(13, sp.Submission)
	}
}

func (w *recordWriter) resource(num protowire.Number, r *v1.Resource) {
	start := w.begin(num)
	w.string(1, r.Namespace)
	w.string(2, r.Pod)
	w.string(3, r.Node)
	w.string(4, r.Cluster)
	w.string(5, r.Container)
	w.keyValues(6, r.Attributes)
	w.end(start)
}

func (w *recordWriter) submission(num protowire.Number, s *v1.Submission) {
	start := w.begin(num)
	w.string(1, s.SubmitId)
	w.string(2, s.UserId)
	w.string(3, s.ProblemId)
	if s.SubmissionSeq != nil {
		w.b = protowire.AppendTag(w.b, 4, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, uint64(*s.SubmissionSeq))
	}
	w.string(5, s.Lang)
	w.enum(6, int32(s.Stage))
	w.end(start)
}

// keyValues writes a repeated KeyValue; a nil element is an empty message,
// as proto.Marshal writes it.
func (w *recordWriter) keyValues(num protowire.Number, kvs []*v1.KeyValue) {
	for _, kv := range kvs {
		start := w.begin(num)
		if kv != nil {
			w.string(1, kv.Key)
			if kv.Value != nil {
				w.anyValue(2, kv.Value)
			}
		}
		w.end(start)
	}
}

func (w *recordWriter) anyValue(num protowire.Number, v *v1.AnyValue) {
	start := w.begin(num)
	switch x := v.Value.(type) {
	case *v1.AnyValue_StringValue:
		w.stringAlways(1, x.StringValue)
	case *v1.AnyValue_BoolValue:
		w.b = protowire.AppendTag(w.b, 2, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, protowire.EncodeBool(x.BoolValue))
	case *v1.AnyValue_IntValue:
		w.b = protowire.AppendTag(w.b, 3, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, uint64(x.IntValue))
	case *v1.AnyValue_DoubleValue:
		w.b = protowire.AppendTag(w.b, 4, protowire.Fixed64Type)
		w.b = protowire.AppendFixed64(w.b, math.Float64bits(x.DoubleValue))
	case *v1.AnyValue_BytesValue:
		w.b = protowire.AppendTag(w.b, 5, protowire.BytesType)
		w.b = protowire.AppendBytes(w.b, x.BytesValue)
	case *v1.AnyValue_ArrayValue:
		arr := w.begin(6)
		for _, e := range x.ArrayValue.GetValues() {
			if e == nil {
				w.end(w.begin(1))
				continue
			}
			w.anyValue(1, e)
		}
		w.end(arr)
	case *v1.AnyValue_KvlistValue:
		kvl := w.begin(7)
		w.keyValues(1, x.KvlistValue.GetValues())
		w.end(kvl)
	}
	w.end(start)
}
