package ingest

import (
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Rejection reasons, used in responses and as the reason label of
// logweave_ingest_records_rejected_total.
const (
	reasonBadTraceID     = "bad_trace_id"
	reasonBadSpanID      = "bad_span_id"
	reasonFuture         = "timestamp_future"
	reasonBadTimestamp   = "bad_timestamp"
	reasonTooManyAttrs   = "too_many_attributes"
	reasonTooLarge       = "record_too_large"
	reasonInvalidUTF8    = "invalid_utf8"
	reasonMalformed      = "malformed"
	reasonMissingSpanIDs = "missing_ids"
)

// rejection is one record (or NDJSON line) that was not accepted.
type rejection struct {
	index  int // 0-based record index in the request, or 1-based NDJSON line
	reason string
	err    string
}

// logsToEnvelopes maps an OTLP logs request. Records with ids of the wrong
// length are rejected, and so are the records in bad (by index: OTLP/JSON
// records whose ids are not hex); everything else is kept.
func (s *Server) logsToEnvelopes(req *collogspb.ExportLogsServiceRequest, observed uint64, bad map[int]rejection) ([]*v1.Envelope, []int, []rejection) {
	var (
		out  []*v1.Envelope
		pos  []int
		rejs []rejection
		idx  int
	)
	for _, rl := range req.GetResourceLogs() {
		res := newResourceInfo(fromOTLPAttrs(rl.GetResource().GetAttributes()))
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				if r, ok := bad[idx]; ok {
					rejs = append(rejs, r)
					idx++
					continue
				}
				env, rej := s.mapLog(lr, res, observed)
				if rej != "" {
					rejs = append(rejs, rejection{index: idx, reason: rej, err: rejectText(rej)})
				} else {
					out, pos = append(out, env), append(pos, idx)
				}
				idx++
			}
		}
	}
	return out, pos, rejs
}

func (s *Server) mapLog(lr *logspb.LogRecord, res resourceInfo, observed uint64) (*v1.Envelope, string) {
	if n := len(lr.GetTraceId()); n != 0 && n != 16 {
		return nil, reasonBadTraceID
	}
	if n := len(lr.GetSpanId()); n != 0 && n != 8 {
		return nil, reasonBadSpanID
	}
	attrs := fromOTLPAttrs(lr.GetAttributes())
	l := &v1.Log{
		TimeUnixNano:         lr.GetTimeUnixNano(),
		ObservedTimeUnixNano: lr.GetObservedTimeUnixNano(),
		SeverityNumber:       v1.SeverityNumber(lr.GetSeverityNumber()),
		SeverityText:         lr.GetSeverityText(),
		Body:                 fromOTLPValue(lr.GetBody()).Text(),
		TraceId:              nonZero(lr.GetTraceId()),
		SpanId:               nonZero(lr.GetSpanId()),
		Service:              res.service,
		Resource:             res.resource,
	}
	if l.ObservedTimeUnixNano == 0 {
		l.ObservedTimeUnixNano = observed
	}
	if l.SeverityNumber == 0 && l.SeverityText != "" {
		l.SeverityNumber = severityFromText(l.SeverityText)
	}
	l.LogType = parseLogType(takeString(&attrs, s.cfg.Keys.LogType))
	l.Submission = s.cfg.Keys.submission(&attrs, res.attrs)
	l.Attributes = attrs
	return &v1.Envelope{Record: &v1.Envelope_Log{Log: l}}, ""
}

// tracesToEnvelopes maps an OTLP traces request. Spans without a 16-byte
// trace id and an 8-byte span id are rejected: the join depends on them.
// The spans in bad are rejected as logsToEnvelopes does.
func (s *Server) tracesToEnvelopes(req *coltracepb.ExportTraceServiceRequest, bad map[int]rejection) ([]*v1.Envelope, []int, []rejection) {
	var (
		out  []*v1.Envelope
		pos  []int
		rejs []rejection
		idx  int
	)
	for _, rs := range req.GetResourceSpans() {
		res := newResourceInfo(fromOTLPAttrs(rs.GetResource().GetAttributes()))
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if r, ok := bad[idx]; ok {
					rejs = append(rejs, r)
					idx++
					continue
				}
				env, rej := s.mapSpan(sp, res)
				if rej != "" {
					rejs = append(rejs, rejection{index: idx, reason: rej, err: rejectText(rej)})
				} else {
					out, pos = append(out, env), append(pos, idx)
				}
				idx++
			}
		}
	}
	return out, pos, rejs
}

func (s *Server) mapSpan(sp *tracepb.Span, res resourceInfo) (*v1.Envelope, string) {
	if len(sp.GetTraceId()) != 16 || allZero(sp.GetTraceId()) {
		return nil, reasonBadTraceID
	}
	if len(sp.GetSpanId()) != 8 || allZero(sp.GetSpanId()) {
		return nil, reasonBadSpanID
	}
	if n := len(sp.GetParentSpanId()); n != 0 && n != 8 {
		return nil, reasonBadSpanID
	}
	attrs := fromOTLPAttrs(sp.GetAttributes())
	out := &v1.Span{
		TraceId:           sp.GetTraceId(),
		SpanId:            sp.GetSpanId(),
		ParentSpanId:      nonZero(sp.GetParentSpanId()),
		Name:              sp.GetName(),
		Kind:              v1.SpanKind(sp.GetKind()),
		StartTimeUnixNano: sp.GetStartTimeUnixNano(),
		EndTimeUnixNano:   sp.GetEndTimeUnixNano(),
		Service:           res.service,
		Resource:          res.resource,
	}
	if st := sp.GetStatus(); st != nil {
		out.Status = &v1.Status{Code: v1.StatusCode(st.GetCode()), Message: st.GetMessage()}
	}
	for _, ev := range sp.GetEvents() {
		out.Events = append(out.Events, &v1.SpanEvent{TimeUnixNano: ev.GetTimeUnixNano(), Name: ev.GetName(), Attributes: fromOTLPAttrs(ev.GetAttributes())})
	}
	out.Submission = s.cfg.Keys.submission(&attrs, res.attrs)
	out.Attributes = attrs
	return &v1.Envelope{Record: &v1.Envelope_Span{Span: out}}, ""
}

// nonZero returns nil for an absent or all-zero id, which OTLP uses for
// "no id".
func nonZero(id []byte) []byte {
	if allZero(id) {
		return nil
	}
	return id
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func rejectText(reason string) string {
	switch reason {
	case reasonBadTraceID:
		return "trace_id must be 16 bytes (32 hex digits)"
	case reasonBadSpanID:
		return "span_id and parent_span_id must be 8 bytes (16 hex digits)"
	case reasonTooManyAttrs:
		return "too many attributes"
	case reasonTooLarge:
		return "record too large"
	case reasonFuture:
		return "timestamp too far in the future"
	}
	return reason
}
