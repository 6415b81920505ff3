// Package document renders an enriched record as the flat JSON document
// logweave writes to Elasticsearch and to files: one object per record, the
// fields people search by at the top level, fields always in the same order
// so that the same record always renders to the same bytes.
//
// Its fields are the table Fields (fields.go), from which the index
// template is made; the shape is documented in docs/elasticsearch.md.
package document

import (
	"encoding/hex"
	"strconv"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Append appends the document of r to b.
func Append(b []byte, r *v1.EnrichedRecord) []byte {
	env := r.GetRecord()
	sub := r.SubmissionContext()
	b = append(b, `{"@timestamp":`...)
	b = appendTime(b, env.EventTimeUnixNano())
	b = field(b, "record_id", r.GetRecordId())
	b = field(b, "kind", env.Kind())
	b = field(b, "service", env.Service())
	b = field(b, "level", env.Level())
	var message string
	if l := env.GetLog(); l != nil {
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
	b = field(b, "stage", r.Stage().Name())

	b = idField(b, "trace_id", env.TraceID())
	if sp := env.GetSpan(); sp != nil {
		b = idField(b, "span_id", sp.GetSpanId())
		b = idField(b, "parent_span_id", sp.GetParentSpanId())
		if d, ok := sp.DurationNanos(); ok {
			b = append(b, `,"duration_ms":`...)
			b = v1.AppendJSONFloat(b, float64(d)/1e6)
		}
		b = field(b, "status", sp.GetStatus().GetCode().Name())
		b = field(b, "status_message", sp.GetStatus().GetMessage())
		b = field(b, "span_kind", sp.GetKind().Name())
	} else {
		b = idField(b, "span_id", env.GetLog().GetSpanId())
	}
	b = appendSpanContext(b, r.GetSpan())

	if s := r.GetSampling(); s != nil {
		b = field(b, "kept_by", s.GetKeptBy())
		b = append(b, `,"sample_weight":`...)
		b = v1.AppendJSONFloat(b, s.GetSampleWeight())
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
		b = v1.AppendKeyValuesJSON(b, attrs)
	}
	if attrs := res.GetAttributes(); len(attrs) > 0 {
		b = append(b, `,"resource":`...)
		b = v1.AppendKeyValuesJSON(b, attrs)
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
				b = v1.AppendKeyValuesJSON(b, ev.GetAttributes())
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
	b = v1.AppendJSONFloat(b, float64(sc.GetDurationNanos())/1e6)
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

// plain marks the bytes a JSON string holds as they are: printable ASCII
// but '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString is v1.AppendJSONString with a fast path for the common
// string that needs no escaping (ids, names, most bodies): one table
// lookup per byte, then a single copy.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			return v1.AppendJSONString(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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

// appendTime writes RFC 3339 with nanoseconds in UTC, the format
// Elasticsearch's date_nanos accepts. The digits are written directly
// (time.AppendFormat parses its layout on every call: 22% of Append);
// years outside 0-9999 go through AppendFormat.
func appendTime(b []byte, ns uint64) []byte {
	t := time.Unix(0, int64(ns)).UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, timeLayout)
		return append(b, '"')
	}
	hour, min, sec := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z', '"')
}

const timeLayout = "2006-01-02T15:04:05.000000000Z"

// appendDigits appends v (not negative) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
