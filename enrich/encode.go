package enrich

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// enrichedFields are an EnrichedRecord to write: the raw record's value,
// embedded verbatim as field 3 (an embedded message is a length-delimited
// field, so its wire bytes are the field's value), and the fields the
// enricher adds. Writing it this way decodes to what proto.Marshal of the
// decoded record would (TestEmit_MatchesGolden, FuzzEmit)
// without re-encoding the raw record or building the message.
type enrichedFields struct {
	raw []byte
	// span is the span context to write with its join set to join; nil
	// writes a missing join for spanID.
	span     *v1.SpanContext
	join     v1.JoinStatus
	spanID   []byte
	sub      *v1.Submission
	stage    v1.Stage // replaces sub's stage
	keptBy   string
	rate     float64
	topic    string
	part     int32
	offset   int64
	enriched uint64
}

// appendEnriched appends the wire form of f to b.
func appendEnriched(b []byte, f *enrichedFields) []byte {
	b = appendVarintField(b, 1, uint64(v1.SchemaVersion))
	b = appendBytesField(b, 2, recordIDOf(f.raw))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, f.raw)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(spanContextSize(f)))
	b = appendSpanContext(b, f)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(submissionSize(f.sub, f.stage)))
	b = appendSubmission(b, f.sub, f.stage)
	weight := 1 / f.rate
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(stringFieldSize(1, f.keptBy)+doubleFieldSize(f.rate)+doubleFieldSize(weight)))
	b = appendStringField(b, 1, f.keptBy)
	b = appendDoubleField(b, 2, f.rate)
	b = appendDoubleField(b, 3, weight)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(stringFieldSize(1, f.topic)+varintFieldSize(2, uint64(int64(f.part)))+varintFieldSize(3, uint64(f.offset))))
	b = appendStringField(b, 1, f.topic)
	b = appendVarintField(b, 2, uint64(int64(f.part)))
	b = appendVarintField(b, 3, uint64(f.offset))
	if f.enriched != 0 {
		b = protowire.AppendTag(b, 8, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, f.enriched)
	}
	return b
}

// recordIDOf is the record_id of a raw Envelope's wire form, as a decoder
// reads it: the last field 2 of the length-delimited wire type (one of
// another wire type is an unknown field); nil without. Held records do not
// keep it decoded.
func recordIDOf(raw []byte) []byte {
	var id []byte
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return id
		}
		raw = raw[n:]
		if num == 2 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(raw)
			if m < 0 {
				return id
			}
			id, raw = v, raw[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			return id
		}
		raw = raw[m:]
	}
	return id
}

// spanContextSize is the size of the span context appendSpanContext writes.
func spanContextSize(f *enrichedFields) int {
	sc := f.span
	if sc == nil {
		return varintFieldSize(1, uint64(v1.JoinStatus_JOIN_STATUS_MISSING)) + stringFieldSize(2, string(f.spanID))
	}
	n := varintFieldSize(1, uint64(f.join)) + stringFieldSize(2, string(sc.SpanId)) + stringFieldSize(3, string(sc.ParentSpanId)) +
		stringFieldSize(4, sc.Name) + varintFieldSize(5, uint64(sc.Stage)) + stringFieldSize(6, sc.Service) +
		varintFieldSize(8, uint64(sc.DurationNanos)) + varintFieldSize(9, uint64(sc.Status)) + stringFieldSize(10, sc.StatusMessage)
	if sc.StartTimeUnixNano != 0 {
		n += protowire.SizeTag(7) + 8
	}
	if f.join == sc.Join {
		n += len(sc.ProtoReflect().GetUnknown())
	}
	return n
}

// appendSpanContext writes f's span context: the record's own (a span's,
// with its unknown fields), its span's with the join set (a joined log,
// like joinContext's copy), or a missing join.
func appendSpanContext(b []byte, f *enrichedFields) []byte {
	sc := f.span
	if sc == nil {
		b = appendVarintField(b, 1, uint64(v1.JoinStatus_JOIN_STATUS_MISSING))
		return appendBytesField(b, 2, f.spanID)
	}
	b = appendVarintField(b, 1, uint64(f.join))
	b = appendBytesField(b, 2, sc.SpanId)
	b = appendBytesField(b, 3, sc.ParentSpanId)
	b = appendStringField(b, 4, sc.Name)
	b = appendVarintField(b, 5, uint64(sc.Stage))
	b = appendStringField(b, 6, sc.Service)
	if sc.StartTimeUnixNano != 0 {
		b = protowire.AppendTag(b, 7, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, sc.StartTimeUnixNano)
	}
	b = appendVarintField(b, 8, uint64(sc.DurationNanos))
	b = appendVarintField(b, 9, uint64(sc.Status))
	b = appendStringField(b, 10, sc.StatusMessage)
	if f.join == sc.Join {
		b = append(b, sc.ProtoReflect().GetUnknown()...)
	}
	return b
}

// submissionSize is the size of what appendSubmission writes.
func submissionSize(s *v1.Submission, stage v1.Stage) int {
	n := stringFieldSize(1, s.GetSubmitId()) + stringFieldSize(2, s.GetUserId()) + stringFieldSize(3, s.GetProblemId()) +
		stringFieldSize(5, s.GetLang()) + varintFieldSize(6, uint64(stage))
	if s != nil && s.SubmissionSeq != nil {
		n += protowire.SizeTag(4) + protowire.SizeVarint(uint64(*s.SubmissionSeq))
	}
	if s != nil {
		n += len(s.ProtoReflect().GetUnknown())
	}
	return n
}

// appendSubmission writes s with its stage replaced by stage (what
// recordSubmission's clone did).
func appendSubmission(b []byte, s *v1.Submission, stage v1.Stage) []byte {
	b = appendStringField(b, 1, s.GetSubmitId())
	b = appendStringField(b, 2, s.GetUserId())
	b = appendStringField(b, 3, s.GetProblemId())
	if s != nil && s.SubmissionSeq != nil {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(*s.SubmissionSeq))
	}
	b = appendStringField(b, 5, s.GetLang())
	b = appendVarintField(b, 6, uint64(stage))
	if s != nil {
		b = append(b, s.ProtoReflect().GetUnknown()...)
	}
	return b
}

// The helpers below write proto3 fields with implicit presence: a zero
// value is not written, as proto.Marshal does.

func varintFieldSize(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func stringFieldSize(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func doubleFieldSize(v float64) int {
	if math.Float64bits(v) == 0 {
		return 0
	}
	return 1 + 8 // fields 1-15 have one-byte tags
}

func appendDoubleField(b []byte, num protowire.Number, v float64) []byte {
	if math.Float64bits(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// enrichedSizeHint is at least the size appendEnriched writes for f in
// all but pathological cases (unknown fields of the submission are left
// out; an estimate, not a bound: emit only uses it
// to start a new output chunk before the record, and a record that does
// not fit after all is still written correctly, by append growing).
func enrichedSizeHint(f *enrichedFields) int {
	n := 2*len(f.raw) + len(f.keptBy) + len(f.topic) + len(f.spanID) + 160
	if sp := f.span; sp != nil {
		n += len(sp.Name) + len(sp.Service) + len(sp.StatusMessage) + len(sp.SpanId) + len(sp.ParentSpanId)
	}
	if s := f.sub; s != nil {
		n += len(s.SubmitId) + len(s.UserId) + len(s.ProblemId) + len(s.Lang)
	}
	return n
}
