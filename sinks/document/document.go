// Package document renders an enriched record as the flat JSON document
// logweave writes to Elasticsearch and to files: one object per record, the
// fields people search by at the top level, fields always in the same order
// so that the same record always renders to the same bytes.
//
// Its fields are the table Fields (fields.go), from which the index
// template is made; the shape is documented in docs/elasticsearch.md.
package document

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Append appends the document of r to b.
func Append(b []byte, r *v1.EnrichedRecord) []byte {
	env := r.GetRecord()
	sub := r.GetSubmission()
	if sub == nil {
		sub = env.Submission()
	}
	b = append(b, `{"@timestamp":`...)
	b = appendTime(b, env.EventTimeUnixNano())
	b = field(b, "record_id", r.GetRecordId())
	b = field(b, "kind", env.Kind())
	b = field(b, "service", env.Service())
	var message string
	if l := env.GetLog(); l != nil {
		b = field(b, "level", l.GetSeverityNumber().Level())
		b = field(b, "severity_text", l.GetSeverityText())
		message = l.GetBody()
	} else if sp := env.GetSpan(); sp != nil {
		message = sp.GetName()
	}
	b = append(b, `,"message":`...)
	b = appendString(b, message)

	b = field(b, "submit_id", sub.GetSubmitId())
	b = field(b, "user_id", sub.GetUserId())
	b = field(b, "problem_id", sub.GetProblemId())
	if sub != nil && sub.SubmissionSeq != nil {
		b = append(b, `,"submission_seq":`...)
		b = strconv.AppendUint(b, uint64(sub.GetSubmissionSeq()), 10)
	}
	b = field(b, "lang", sub.GetLang())
	stage := sub.GetStage().Name()
	if stage == "" {
		stage = r.GetSpan().GetStage().Name()
	}
	b = field(b, "stage", stage)

	b = idField(b, "trace_id", env.TraceID())
	if sp := env.GetSpan(); sp != nil {
		b = idField(b, "span_id", sp.GetSpanId())
		b = idField(b, "parent_span_id", sp.GetParentSpanId())
		b = appendDuration(b, "duration_ms", sp.GetEndTimeUnixNano(), sp.GetStartTimeUnixNano())
		b = field(b, "status", sp.GetStatus().GetCode().Name())
		b = field(b, "status_message", sp.GetStatus().GetMessage())
		b = field(b, "span_kind", spanKind(sp.GetKind()))
	} else {
		b = idField(b, "span_id", env.GetLog().GetSpanId())
	}
	b = appendSpanContext(b, r.GetSpan())

	if s := r.GetSampling(); s != nil {
		b = field(b, "kept_by", s.GetKeptBy())
		b = append(b, `,"sample_weight":`...)
		b = appendFloat(b, s.GetSampleWeight())
	}
	res := env.Resource()
	b = field(b, "namespace", res.GetNamespace())
	b = field(b, "pod", res.GetPod())
	b = field(b, "node", res.GetNode())
	b = field(b, "cluster", res.GetCluster())
	b = field(b, "container", res.GetContainer())
	if l := env.GetLog(); l != nil {
		b = field(b, "log_type", l.GetLogType().Name())
	}
	if attrs := env.Attributes(); len(attrs) > 0 {
		b = append(b, `,"attributes":`...)
		b = appendKVs(b, attrs)
	}
	if attrs := res.GetAttributes(); len(attrs) > 0 {
		b = append(b, `,"resource":`...)
		b = appendKVs(b, attrs)
	}
	if evs := env.GetSpan().GetEvents(); len(evs) > 0 {
		b = append(b, `,"events":[`...)
		for i, ev := range evs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"time":`...)
			b = appendTime(b, ev.GetTimeUnixNano())
			b = field(b, "name", ev.GetName())
			if len(ev.GetAttributes()) > 0 {
				b = append(b, `,"attributes":`...)
				b = appendKVs(b, ev.GetAttributes())
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if src := r.GetSource(); src != nil {
		b = append(b, `,"source":{"topic":`...)
		b = appendString(b, src.GetTopic())
		b = append(b, `,"partition":`...)
		b = strconv.AppendInt(b, int64(src.GetPartition()), 10)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, src.GetOffset(), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendSpanContext(b []byte, sc *v1.SpanContext) []byte {
	if sc == nil {
		return b
	}
	b = append(b, `,"span":{"join":`...)
	b = appendString(b, joinName(sc.GetJoin()))
	if sc.GetJoin() == v1.JoinStatus_JOIN_STATUS_MISSING {
		return append(b, '}')
	}
	b = field(b, "name", sc.GetName())
	b = field(b, "stage", sc.GetStage().Name())
	b = field(b, "service", sc.GetService())
	b = idField(b, "parent_span_id", sc.GetParentSpanId())
	b = append(b, `,"duration_ms":`...)
	b = appendFloat(b, float64(sc.GetDurationNanos())/1e6)
	b = field(b, "status", sc.GetStatus().Name())
	b = field(b, "status_message", sc.GetStatusMessage())
	return append(b, '}')
}

func joinName(j v1.JoinStatus) string {
	switch j {
	case v1.JoinStatus_JOIN_STATUS_JOINED:
		return "joined"
	case v1.JoinStatus_JOIN_STATUS_MISSING:
		return "missing"
	case v1.JoinStatus_JOIN_STATUS_SELF:
		return "self"
	}
	return "unknown"
}

func spanKind(k v1.SpanKind) string {
	switch k {
	case v1.SpanKind_SPAN_KIND_INTERNAL:
		return "internal"
	case v1.SpanKind_SPAN_KIND_SERVER:
		return "server"
	case v1.SpanKind_SPAN_KIND_CLIENT:
		return "client"
	case v1.SpanKind_SPAN_KIND_PRODUCER:
		return "producer"
	case v1.SpanKind_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return ""
}

// field appends ,"name":"value" unless value is empty.
func field(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func idField(b []byte, name string, id []byte) []byte {
	if len(id) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	b = hex.AppendEncode(b, id)
	return append(b, '"')
}

func appendDuration(b []byte, name string, end, start uint64) []byte {
	if end < start {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendFloat(b, float64(end-start)/1e6)
}

// appendTime writes RFC 3339 with nanoseconds in UTC, the format
// Elasticsearch's date_nanos accepts.
func appendTime(b []byte, ns uint64) []byte {
	b = append(b, '"')
	b = time.Unix(0, int64(ns)).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	return append(b, '"')
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendKVs(b []byte, kvs []*v1.KeyValue) []byte {
	b = append(b, '{')
	for i, kv := range kvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, kv.GetKey())
		b = append(b, ':')
		b = appendValue(b, kv.GetValue())
	}
	return append(b, '}')
}

func appendValue(b []byte, v *v1.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case *v1.AnyValue_StringValue:
		return appendString(b, x.StringValue)
	case *v1.AnyValue_BoolValue:
		return strconv.AppendBool(b, x.BoolValue)
	case *v1.AnyValue_IntValue:
		return strconv.AppendInt(b, x.IntValue, 10)
	case *v1.AnyValue_DoubleValue:
		return appendFloat(b, x.DoubleValue)
	case *v1.AnyValue_BytesValue:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x.BytesValue)
		return append(b, '"')
	case *v1.AnyValue_ArrayValue:
		b = append(b, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case *v1.AnyValue_KvlistValue:
		return appendKVs(b, x.KvlistValue.GetValues())
	}
	return append(b, "null"...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
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
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
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
		// consumers; escape them as encoding/json does.
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
