package ingest

import (
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
func (s *Server) logsToEnvelopes(req *otlpLogs, observed uint64, bad map[int]rejection) ([]*v1.Envelope, []int, []rejection) {
	var (
		out  = make([]*v1.Envelope, 0, req.records)
		pos  = make([]int, 0, req.records)
		rejs []rejection
		idx  int
		slab = req.recordSlab()
	)
	for i := range req.resources {
		rl := &req.resources[i]
		res := newResourceInfo(rl.attrs)
		for j := range rl.records {
			if r, ok := bad[idx]; ok {
				rejs = append(rejs, r)
				idx++
				continue
			}
			env, rej := s.mapLog(&rl.records[j], res, observed, slab)
			if rej != "" {
				rejs = append(rejs, rejection{index: idx, reason: rej, err: rejectText(rej)})
			} else {
				out, pos = append(out, env), append(pos, idx)
			}
			idx++
		}
	}
	return out, pos, rejs
}

func (s *Server) mapLog(lr *otlpLogRecord, res resourceInfo, observed uint64, slab *recordSlab) (*v1.Envelope, string) {
	if n := len(lr.traceID); n != 0 && n != 16 {
		return nil, reasonBadTraceID
	}
	if n := len(lr.spanID); n != 0 && n != 8 {
		return nil, reasonBadSpanID
	}
	attrs := lr.attrs
	env, l := slab.log()
	l.TimeUnixNano = lr.timeUnixNano
	l.ObservedTimeUnixNano = lr.observedTimeUnixNano
	l.SeverityNumber = v1.SeverityNumber(lr.severityNumber)
	l.SeverityText = lr.severityText
	l.Body = lr.body.Text()
	l.TraceId = nonZero(lr.traceID)
	l.SpanId = nonZero(lr.spanID)
	l.Service = res.service
	l.Resource = res.resource
	if l.ObservedTimeUnixNano == 0 {
		l.ObservedTimeUnixNano = observed
	}
	if l.SeverityNumber == 0 && l.SeverityText != "" {
		l.SeverityNumber = severityFromText(l.SeverityText)
	}
	l.LogType = parseLogType(takeString(&attrs, s.cfg.Keys.LogType))
	l.Submission = slab.fillSubmission(&s.cfg.Keys, &attrs, res.attrs)
	l.Attributes = attrs
	return env, ""
}

// tracesToEnvelopes maps an OTLP traces request. Spans without a 16-byte
// trace id and an 8-byte span id are rejected: the join depends on them.
// The spans in bad are rejected as logsToEnvelopes does.
func (s *Server) tracesToEnvelopes(req *otlpTraces, bad map[int]rejection) ([]*v1.Envelope, []int, []rejection) {
	var (
		out  = make([]*v1.Envelope, 0, req.spans)
		pos  = make([]int, 0, req.spans)
		rejs []rejection
		idx  int
		slab = req.recordSlab()
	)
	for i := range req.resources {
		rs := &req.resources[i]
		res := newResourceInfo(rs.attrs)
		for j := range rs.spans {
			if r, ok := bad[idx]; ok {
				rejs = append(rejs, r)
				idx++
				continue
			}
			env, rej := s.mapSpan(&rs.spans[j], res, slab)
			if rej != "" {
				rejs = append(rejs, rejection{index: idx, reason: rej, err: rejectText(rej)})
			} else {
				out, pos = append(out, env), append(pos, idx)
			}
			idx++
		}
	}
	return out, pos, rejs
}

func (s *Server) mapSpan(sp *otlpSpan, res resourceInfo, slab *recordSlab) (*v1.Envelope, string) {
	if len(sp.traceID) != 16 || allZero(sp.traceID) {
		return nil, reasonBadTraceID
	}
	if len(sp.spanID) != 8 || allZero(sp.spanID) {
		return nil, reasonBadSpanID
	}
	if n := len(sp.parentSpanID); n != 0 && n != 8 {
		return nil, reasonBadSpanID
	}
	attrs := sp.attrs
	env, out := slab.span()
	out.TraceId = sp.traceID
	out.SpanId = sp.spanID
	out.ParentSpanId = nonZero(sp.parentSpanID)
	out.Name = sp.name
	out.Kind = v1.SpanKind(sp.kind)
	out.StartTimeUnixNano = sp.startTimeUnixNano
	out.EndTimeUnixNano = sp.endTimeUnixNano
	out.Service = res.service
	out.Resource = res.resource
	out.Status = sp.status
	out.Events = sp.events
	out.Submission = slab.fillSubmission(&s.cfg.Keys, &attrs, res.attrs)
	out.Attributes = attrs
	return env, ""
}

// recordSlab is where the mapping takes the request's records from.
func (req *otlpLogs) recordSlab() *recordSlab {
	if req.scratch == nil {
		req.scratch = &requestScratch{}
	}
	return &req.scratch.records
}

func (req *otlpTraces) recordSlab() *recordSlab {
	if req.scratch == nil {
		req.scratch = &requestScratch{}
	}
	return &req.scratch.records
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
