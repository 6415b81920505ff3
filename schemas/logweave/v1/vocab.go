package logweavev1

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is the record vocabulary: how every stage reads a record's
// level, stage, attributes, span duration and the DLQ headers. Ingest's
// mapping, the rule environment, the router, the document, the Loki line and
// find use these and nothing else, so that they cannot disagree.

// Levels are the level names in order; a level's rank is its index + 1.
var Levels = []string{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError, LevelFatal}

// Level ranks the vocabulary names, for comparisons and head sampling.
const (
	RankInfo  = 3
	RankError = 5
)

// Record kinds, as Envelope.Kind names them.
const (
	KindLog       = "log"
	KindSpan      = "span"
	KindTraceLink = "trace_link"
)

// LevelRank returns the rank of a level name (trace 1 ... fatal 6), 0 when
// the name is not a level.
func LevelRank(name string) int {
	for i, l := range Levels {
		if l == name {
			return i + 1
		}
	}
	return 0
}

// Level is the record's level name, the one rule for logs and spans alike:
// a log's is its severity's ("unknown" when it has none); a span's is
// "error" when its status is error, "info" otherwise. Other kinds have "".
func (e *Envelope) Level() string {
	switch r := e.GetRecord().(type) {
	case *Envelope_Log:
		return r.Log.GetSeverityNumber().Level()
	case *Envelope_Span:
		if r.Span.GetStatus().GetCode() == StatusCode_STATUS_CODE_ERROR {
			return LevelError
		}
		return LevelInfo
	}
	return ""
}

// LevelRank is the rank of the record's level for comparisons (rules) and
// head sampling: a level without a rank ("unknown") counts as info.
func (e *Envelope) LevelRank() int {
	if r := LevelRank(e.Level()); r > 0 {
		return r
	}
	return RankInfo
}

// stageNames is the one synonym table of stage names, lowercase: what a
// record's submission.stage attribute or a span's name may say.
var stageNames = map[string]Stage{
	"compile": Stage_STAGE_COMPILE, "build": Stage_STAGE_COMPILE,
	"judge": Stage_STAGE_JUDGE, "run": Stage_STAGE_JUDGE, "test": Stage_STAGE_JUDGE,
	"score":    Stage_STAGE_SCORE,
	"feedback": Stage_STAGE_FEEDBACK,
}

// ParseStage maps a stage name or synonym (case and surrounding space
// ignored) to its stage; anything else is unspecified.
func ParseStage(name string) Stage {
	if s, ok := stageNames[name]; ok {
		return s
	}
	return stageNames[strings.ToLower(strings.TrimSpace(name))]
}

// Stage is the span's stage: the stage of its submission context, else
// the stage its name says (ParseStage).
func (s *Span) Stage() Stage {
	if st := s.GetSubmission().GetStage(); st != Stage_STAGE_UNSPECIFIED {
		return st
	}
	return ParseStage(s.GetName())
}

// RecordStage is a record's stage: its own (the stage of the submission
// context it was produced with), else that of the span it ran in (for a
// span, itself), else unspecified.
func RecordStage(own *Submission, span *SpanContext) Stage {
	if s := own.GetStage(); s != Stage_STAGE_UNSPECIFIED {
		return s
	}
	return span.GetStage()
}

// Stage is the enriched record's stage (see RecordStage); enrich writes it
// into the record's submission context, which is read first.
func (r *EnrichedRecord) Stage() Stage {
	if s := r.GetSubmission().GetStage(); s != Stage_STAGE_UNSPECIFIED {
		return s
	}
	return RecordStage(r.GetRecord().Submission(), r.GetSpan())
}

// SubmissionContext is the enriched record's submission context: the one
// enrich completed, or the record's own when there is none.
func (r *EnrichedRecord) SubmissionContext() *Submission {
	if s := r.GetSubmission(); s != nil {
		return s
	}
	return r.GetRecord().Submission()
}

// Name is the lowercase name of a span kind ("server", "client", ...), ""
// when unspecified.
func (k SpanKind) Name() string {
	if k == SpanKind_SPAN_KIND_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "SPAN_KIND_"))
}

// DurationNanos is the span's duration, and false when its end is before
// its start.
func (s *Span) DurationNanos() (int64, bool) {
	if s.GetEndTimeUnixNano() < s.GetStartTimeUnixNano() {
		return 0, false
	}
	return int64(s.GetEndTimeUnixNano() - s.GetStartTimeUnixNano()), true
}

// Attr returns the value of the first attribute with key, and false when
// there is none.
func Attr(attrs []*KeyValue, key string) (*AnyValue, bool) {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return nil, false
}

// Text renders a value as text, the one rule wherever a value is shown or
// compared as text (rules, routes, Loki lines, a log body given as a
// non-string): strings as they are, integers in decimal, doubles in the
// shortest form that reads back the same, booleans as true/false, bytes in
// standard base64, arrays and key/value lists as the JSON the document
// writes for them, an empty value as "".
func (v *AnyValue) Text() string {
	if s, ok := v.GetValue().(*AnyValue_StringValue); ok {
		return s.StringValue
	}
	return string(v.AppendText(nil))
}

// AppendText appends Text's rendering of v to b.
func (v *AnyValue) AppendText(b []byte) []byte {
	switch x := v.GetValue().(type) {
	case *AnyValue_StringValue:
		return append(b, x.StringValue...)
	case *AnyValue_IntValue:
		return strconv.AppendInt(b, x.IntValue, 10)
	case *AnyValue_DoubleValue:
		return strconv.AppendFloat(b, x.DoubleValue, 'g', -1, 64)
	case *AnyValue_BoolValue:
		return strconv.AppendBool(b, x.BoolValue)
	case *AnyValue_BytesValue:
		return base64.StdEncoding.AppendEncode(b, x.BytesValue)
	case *AnyValue_ArrayValue, *AnyValue_KvlistValue:
		return v.AppendJSON(b)
	}
	return b
}

// AppendJSON appends v as JSON: bytes as a base64 string, arrays as
// arrays, key/value lists as objects in their order, NaN and infinities as
// null, an empty value as null.
func (v *AnyValue) AppendJSON(b []byte) []byte {
	switch x := v.GetValue().(type) {
	case *AnyValue_StringValue:
		return AppendJSONString(b, x.StringValue)
	case *AnyValue_BoolValue:
		return strconv.AppendBool(b, x.BoolValue)
	case *AnyValue_IntValue:
		return strconv.AppendInt(b, x.IntValue, 10)
	case *AnyValue_DoubleValue:
		return AppendJSONFloat(b, x.DoubleValue)
	case *AnyValue_BytesValue:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x.BytesValue)
		return append(b, '"')
	case *AnyValue_ArrayValue:
		b = append(b, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.AppendJSON(b)
		}
		return append(b, ']')
	case *AnyValue_KvlistValue:
		return AppendKeyValuesJSON(b, x.KvlistValue.GetValues())
	}
	return append(b, "null"...)
}

// AppendKeyValuesJSON appends attributes as a JSON object, in their order.
func AppendKeyValuesJSON(b []byte, kvs []*KeyValue) []byte {
	b = append(b, '{')
	for i, kv := range kvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, kv.GetKey())
		b = append(b, ':')
		b = kv.GetValue().AppendJSON(b)
	}
	return append(b, '}')
}

// AppendJSONFloat appends f as a JSON number, null for NaN and infinities.
func AppendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped as encoding/json does.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscaped(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript
		// consumers.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscaped(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// Headers of the records written to the DLQ (by the sinks and by enrich),
// read by reconcile and operators.
const (
	// HeaderDLQSink names the writer: the sink's name, or "enrich".
	HeaderDLQSink = "logweave.sink"
	// HeaderDLQReason is a short machine-readable cause ("decode",
	// "mapping", "too_old", ...).
	HeaderDLQReason = "logweave.reason"
	// HeaderDLQError is the error text, at most 1 KiB.
	HeaderDLQError = "logweave.error"
	// HeaderDLQSourceTopic, HeaderDLQSourcePartition and
	// HeaderDLQSourceOffset say where the record was read.
	HeaderDLQSourceTopic     = "logweave.source.topic"
	HeaderDLQSourcePartition = "logweave.source.partition"
	HeaderDLQSourceOffset    = "logweave.source.offset"
	// HeaderDLQRecordID is the record's record_id.
	HeaderDLQRecordID = "logweave.record_id"
)
