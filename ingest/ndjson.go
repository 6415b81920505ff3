package ingest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// NDJSON field names, as zap, zerolog, slog and logrus write them. The first
// present key of each list is used; the others stay attributes.
var (
	ndLevelKeys   = []string{"level", "severity", "lvl", "severity_text"}
	ndMessageKeys = []string{"msg", "message", "body"}
	ndTimeKeys    = []string{"ts", "time", "timestamp", "@timestamp"}
	ndTraceKeys   = []string{"trace_id", "traceId", "traceid"}
	ndSpanKeys    = []string{"span_id", "spanId", "spanid"}
	ndServiceKeys = []string{"service", "service.name", "service_name"}
)

// lineError is why one NDJSON line was rejected.
type lineError struct {
	reason string
	msg    string
}

func (e *lineError) Error() string { return e.msg }

func lineErr(reason, format string, args ...any) *lineError {
	return &lineError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// parseNDJSON parses a body of JSON lines. Blank lines are skipped; a bad
// line is rejected alone with its 1-based line number.
func (s *Server) parseNDJSON(body []byte, observed uint64) ([]*v1.Envelope, []int, []rejection) {
	var (
		out   []*v1.Envelope
		lines []int
		rejs  []rejection
	)
	for n := 1; len(body) > 0; n++ {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		env, err := s.parseLine(line, observed)
		if err != nil {
			var le *lineError
			if !errors.As(err, &le) {
				le = lineErr(reasonMalformed, "%v", err)
			}
			rejs = append(rejs, rejection{index: n, reason: le.reason, err: le.msg})
			continue
		}
		out, lines = append(out, env), append(lines, n)
	}
	return out, lines, rejs
}

func (s *Server) parseLine(line []byte, observed uint64) (*v1.Envelope, error) {
	if len(line) > s.cfg.MaxRecordBytes {
		return nil, lineErr(reasonTooLarge, "line is %d bytes, more than max_record_bytes %d", len(line), s.cfg.MaxRecordBytes)
	}
	if !utf8.Valid(line) {
		if s.cfg.InvalidUTF8 == "reject" {
			return nil, lineErr(reasonInvalidUTF8, "line is not valid UTF-8")
		}
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, lineErr(reasonMalformed, "not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, lineErr(reasonMalformed, "more than one JSON value on the line")
	}
	if obj == nil {
		return nil, lineErr(reasonMalformed, "not a JSON object: null")
	}
	l := &v1.Log{ObservedTimeUnixNano: observed}
	if k, v, ok := pick(obj, ndTimeKeys); ok {
		ts, err := parseTimestamp(v)
		if err != nil {
			return nil, lineErr(reasonBadTimestamp, "%s: %v", k, err)
		}
		l.TimeUnixNano = ts
	}
	if _, v, ok := pick(obj, ndLevelKeys); ok {
		switch x := v.(type) {
		case string:
			l.SeverityText = x
			l.SeverityNumber = severityFromText(x)
		case json.Number:
			l.SeverityText = x.String()
			if n, err := x.Int64(); err == nil {
				l.SeverityNumber = severityFromNumber(n)
			}
		}
	}
	if _, v, ok := pick(obj, ndMessageKeys); ok {
		l.Body = jsonValue(v).Text()
	}
	for _, id := range []struct {
		keys   []string
		size   int
		reason string
		dst    *[]byte
	}{{ndTraceKeys, 16, reasonBadTraceID, &l.TraceId}, {ndSpanKeys, 8, reasonBadSpanID, &l.SpanId}} {
		k, v, ok := pick(obj, id.keys)
		if !ok {
			continue
		}
		str, _ := v.(string)
		raw, err := hex.DecodeString(str)
		if err != nil || len(raw) != id.size {
			return nil, lineErr(id.reason, "%s: %q is not %d hex digits", k, str, 2*id.size)
		}
		*id.dst = nonZero(raw)
	}
	service := unknownService
	if _, v, ok := pick(obj, ndServiceKeys); ok {
		service = jsonValue(v).Text()
	}
	attrs := make([]*v1.KeyValue, 0, len(obj))
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// Sorted, so the same line always maps to the same record id.
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, &v1.KeyValue{Key: k, Value: jsonValue(obj[k])})
	}
	res := newResourceInfo(nil)
	res.service = service
	res.resource.Namespace = takeString(&attrs, []string{keyNamespace})
	res.resource.Pod = takeString(&attrs, []string{keyPod})
	res.resource.Node = takeString(&attrs, []string{keyNode})
	res.resource.Cluster = takeString(&attrs, []string{keyCluster})
	res.resource.Container = takeString(&attrs, []string{keyContainer})
	l.Service = res.service
	l.Resource = res.resource
	l.LogType = parseLogType(takeString(&attrs, s.cfg.Keys.LogType))
	l.Submission = s.cfg.Keys.submission(&attrs, nil)
	l.Attributes = attrs
	return &v1.Envelope{Record: &v1.Envelope_Log{Log: l}}, nil
}

// pick removes and returns the first of keys present in obj.
func pick(obj map[string]any, keys []string) (string, any, bool) {
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			delete(obj, k)
			return k, v, true
		}
	}
	return "", nil, false
}

// jsonValue converts a decoded JSON value to a typed attribute value:
// integral numbers become ints, others doubles, objects key/value lists in
// key order.
func jsonValue(v any) *v1.AnyValue {
	switch x := v.(type) {
	case string:
		return strValue(x)
	case bool:
		return &v1.AnyValue{Value: &v1.AnyValue_BoolValue{BoolValue: x}}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: i}}
		}
		if f, err := x.Float64(); err == nil {
			return &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: f}}
		}
		return strValue(x.String())
	case []any:
		arr := &v1.ArrayValue{Values: make([]*v1.AnyValue, 0, len(x))}
		for _, e := range x {
			arr.Values = append(arr.Values, jsonValue(e))
		}
		return &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: arr}}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kv := &v1.KeyValueList{Values: make([]*v1.KeyValue, 0, len(x))}
		for _, k := range keys {
			kv.Values = append(kv.Values, &v1.KeyValue{Key: k, Value: jsonValue(x[k])})
		}
		return &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: kv}}
	}
	return nil // JSON null: an attribute without a value
}

// parseTimestamp reads RFC 3339 text or an epoch number. Numbers are read
// by magnitude: below 1e11 seconds (fractions allowed, as zap writes
// them), below 1e14 milliseconds, below 1e17 microseconds, else
// nanoseconds. Numeric strings are read the same way.
func parseTimestamp(v any) (uint64, error) {
	var num string
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return unixNanos(t)
		}
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			return 0, fmt.Errorf("%q is neither RFC 3339 nor an epoch number", x)
		}
		num = x
	case json.Number:
		num = x.String()
	default:
		return 0, fmt.Errorf("%v is neither RFC 3339 text nor an epoch number", v)
	}
	intPart, frac, _ := strings.Cut(num, ".")
	if strings.ContainsAny(num, "eE") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || f > math.MaxInt64 {
			return 0, fmt.Errorf("%s is not a valid epoch time", num)
		}
		intPart, frac = strconv.FormatFloat(math.Trunc(f), 'f', 0, 64), ""
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s is not a valid epoch time", num)
	}
	var scale int64 // nanoseconds per unit
	switch {
	case n < 1e11:
		scale = 1e9
	case n < 1e14:
		scale = 1e6
	case n < 1e17:
		scale = 1e3
	default:
		scale = 1
	}
	ns := n * scale
	if frac != "" && scale > 1 {
		// Take as many fractional digits as the unit has below it.
		digits := len(strconv.FormatInt(scale, 10)) - 1
		if len(frac) > digits {
			frac = frac[:digits]
		}
		frac += strings.Repeat("0", digits-len(frac))
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s is not a valid epoch time", num)
		}
		ns += f
	}
	return uint64(ns), nil
}

func unixNanos(t time.Time) (uint64, error) {
	if t.Year() < 1970 || t.Year() > 2262 {
		return 0, fmt.Errorf("%s is outside 1970-2262", t.Format(time.RFC3339))
	}
	return uint64(t.UnixNano()), nil
}
