package condition

import (
	"encoding/hex"
	"strconv"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Record is what a condition reads: one record and its context. The zero
// value is an empty record.
type Record struct {
	env  *v1.Envelope
	span *v1.SpanContext // the span a log joined, or the span itself
	sub  *v1.Submission  // the submission context completed from the others
	rec  *v1.EnrichedRecord
}

// NewRecord is a record being enriched: env with the context of its span
// (nil when not joined) and its submission.
func NewRecord(env *v1.Envelope, span *v1.SpanContext, sub *v1.Submission) Record {
	return Record{env: env, span: span, sub: sub}
}

// EnrichedRecord is an enriched record, as the router sees it.
func EnrichedRecord(rec *v1.EnrichedRecord) Record {
	return Record{env: rec.GetRecord(), span: rec.GetSpan(), sub: rec.SubmissionContext(), rec: rec}
}

// Text is the value of a field as text ("" when the record has none), for
// Loki labels, metadata and index patterns: the level by name, numbers in
// decimal, ids in hex.
func (r *Record) Text(name string) string {
	f, ok := fieldsByName[name]
	if !ok {
		return ""
	}
	switch f.typ {
	case typeString:
		return f.str(r)
	case typeLevel:
		return r.env.Level()
	}
	v, ok := f.num(r)
	if !ok {
		return ""
	}
	if f.typ == typeDuration {
		return time.Duration(v).String()
	}
	return strconv.FormatInt(v, 10)
}

// Attr is the record's own attribute key.
func (r *Record) Attr(key string) (*v1.AnyValue, bool) { return v1.Attr(r.env.Attributes(), key) }

type fieldType uint8

const (
	typeString   fieldType = iota
	typeLevel              // the rank, compared with level names
	typeInt                // nil when missing
	typeDuration           // nil when missing
)

// field is one field of the language.
type field struct {
	name string
	typ  fieldType
	str  func(*Record) string        // typeString
	num  func(*Record) (int64, bool) // the others; false when missing
}

func (f *field) nullable() bool { return f.typ == typeInt || f.typ == typeDuration }

// fields are the fields of the language, rules and routes alike.
var fields = []field{
	{name: "kind", str: func(r *Record) string { return r.env.Kind() }},
	{name: "level", typ: typeLevel, num: func(r *Record) (int64, bool) { return int64(r.env.LevelRank()), true }},
	{name: "service", str: func(r *Record) string { return r.env.Service() }},
	{name: "body", str: func(r *Record) string {
		if l := r.env.GetLog(); l != nil {
			return l.GetBody()
		}
		return r.env.GetSpan().GetStatus().GetMessage()
	}},
	{name: "stage", str: func(r *Record) string {
		if r.rec != nil {
			return r.rec.Stage().Name()
		}
		return v1.RecordStage(r.env.Submission(), r.span).Name()
	}},
	{name: "log_type", str: func(r *Record) string {
		if l := r.env.GetLog(); l != nil {
			return l.GetLogType().Name()
		}
		return ""
	}},
	{name: "submit_id", str: func(r *Record) string { return r.sub.GetSubmitId() }},
	{name: "user_id", str: func(r *Record) string { return r.sub.GetUserId() }},
	{name: "problem_id", str: func(r *Record) string { return r.sub.GetProblemId() }},
	{name: "lang", str: func(r *Record) string { return r.sub.GetLang() }},
	{name: "submission_seq", typ: typeInt, num: func(r *Record) (int64, bool) {
		if r.sub == nil || r.sub.SubmissionSeq == nil {
			return 0, false
		}
		return int64(r.sub.GetSubmissionSeq()), true
	}},
	{name: "namespace", str: func(r *Record) string { return r.env.Resource().GetNamespace() }},
	{name: "pod", str: func(r *Record) string { return r.env.Resource().GetPod() }},
	{name: "node", str: func(r *Record) string { return r.env.Resource().GetNode() }},
	{name: "cluster", str: func(r *Record) string { return r.env.Resource().GetCluster() }},
	{name: "container", str: func(r *Record) string { return r.env.Resource().GetContainer() }},
	{name: "tenant", str: func(r *Record) string { return tenant(r.env) }},
	{name: "kept_by", str: func(r *Record) string { return r.rec.GetSampling().GetKeptBy() }},
	{name: "record_id", str: func(r *Record) string {
		if r.rec != nil {
			return r.rec.GetRecordId()
		}
		return r.env.GetRecordId()
	}},
	{name: "trace_id", str: func(r *Record) string { return hexID(r.env.TraceID()) }},
	{name: "span_id", str: func(r *Record) string {
		if l := r.env.GetLog(); l != nil {
			return hexID(l.GetSpanId())
		}
		return hexID(r.env.GetSpan().GetSpanId())
	}},
	{name: "parent_span_id", str: func(r *Record) string {
		if sp := r.env.GetSpan(); sp != nil {
			return hexID(sp.GetParentSpanId())
		}
		return hexID(r.span.GetParentSpanId())
	}},
	{name: "span.name", str: func(r *Record) string {
		if r.span.GetJoin() == v1.JoinStatus_JOIN_STATUS_MISSING {
			return ""
		}
		return r.span.GetName()
	}},
	{name: "span.status", str: func(r *Record) string {
		if r.span == nil {
			return ""
		}
		return r.span.GetStatus().Name()
	}},
	{name: "span.status_message", str: func(r *Record) string { return r.span.GetStatusMessage() }},
	{name: "span.duration", typ: typeDuration, num: func(r *Record) (int64, bool) {
		if r.span == nil {
			return 0, false
		}
		return r.span.GetDurationNanos(), true
	}},
	{name: "span.kind", str: func(r *Record) string { return r.env.GetSpan().GetKind().Name() }},
}

var fieldsByName = func() map[string]*field {
	m := make(map[string]*field, len(fields))
	for i := range fields {
		m[fields[i].name] = &fields[i]
	}
	return m
}()

// FieldNames are the names of the fields, for documentation and
// validation (attr["k"] and resource["k"] besides).
func FieldNames() []string {
	out := make([]string, len(fields))
	for i := range fields {
		out[i] = fields[i].name
	}
	return out
}

// tenant is the record's tenant: the record or resource attribute tenant,
// else tenant.id.
func tenant(env *v1.Envelope) string {
	for _, k := range []string{"tenant", "tenant.id"} {
		if v, ok := v1.Attr(env.Attributes(), k); ok {
			return v.Text()
		}
		if v, ok := v1.Attr(env.Resource().GetAttributes(), k); ok {
			return v.Text()
		}
	}
	return ""
}

func hexID(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

// attrValue is an attribute's value in a condition: strings, integers,
// doubles and booleans typed, bytes and composites as their text
// (v1.AnyValue.Text), nil when absent.
func attrValue(attrs []*v1.KeyValue, key string) any {
	v, ok := v1.Attr(attrs, key)
	if !ok {
		return nil
	}
	switch x := v.GetValue().(type) {
	case *v1.AnyValue_StringValue:
		return x.StringValue
	case *v1.AnyValue_IntValue:
		return int(x.IntValue)
	case *v1.AnyValue_DoubleValue:
		return x.DoubleValue
	case *v1.AnyValue_BoolValue:
		return x.BoolValue
	case nil:
		return nil
	}
	return v.Text()
}
