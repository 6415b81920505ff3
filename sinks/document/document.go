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
	b = v1.AppendJSONString(b, message)

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
		b = v1.AppendJSONString(b, src.GetTopic())
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
	b = v1.AppendJSONString(b, joinName(sc.GetJoin()))
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
	return v1.AppendJSONString(b, value)
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
// Elasticsearch's date_nanos accepts.
func appendTime(b []byte, ns uint64) []byte {
	b = append(b, '"')
	b = time.Unix(0, int64(ns)).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	return append(b, '"')
}

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte { return v1.AppendJSONString(b, s) }
