package loki

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// appendLine renders the Loki line of a record in logfmt with a fixed
// field order, so the same record always gives a byte-identical line and
// Loki's merging of identical entries (same stream, timestamp and line)
// makes replays invisible. Labels and structured metadata are not repeated
// in the line.
func appendLine(b []byte, r *v1.EnrichedRecord) []byte {
	env := r.GetRecord()
	if l := env.GetLog(); l != nil {
		b = kv(b, "msg", l.GetBody())
	} else if sp := env.GetSpan(); sp != nil {
		b = kv(b, "msg", "span "+sp.GetName())
		if d, ok := sp.DurationNanos(); ok {
			b = kvRaw(b, "duration_ms", strconv.FormatFloat(float64(d)/1e6, 'f', -1, 64))
		}
		b = kv(b, "status", sp.GetStatus().GetCode().Name())
		b = kv(b, "status_message", sp.GetStatus().GetMessage())
	}
	if sc := r.GetSpan(); sc != nil && env.GetLog() != nil {
		if sc.GetJoin() == v1.JoinStatus_JOIN_STATUS_JOINED {
			b = kv(b, "span", sc.GetName())
			b = kvRaw(b, "span_ms", strconv.FormatFloat(float64(sc.GetDurationNanos())/1e6, 'f', -1, 64))
			b = kv(b, "span_status", sc.GetStatus().Name())
		} else {
			b = kv(b, "join", "missing")
		}
	}
	b = kv(b, "kept_by", r.GetSampling().GetKeptBy())
	for _, a := range env.Attributes() {
		b = kvAttr(b, a)
	}
	return b
}

// kvAttr is kv(b, sanitizeKey(key), value.Text()) written in place: the
// key sanitized and the value rendered straight into b (no string per
// attribute), the value quoted (rarely) only after it is seen to need it.
func kvAttr(b []byte, a *v1.KeyValue) []byte {
	start := len(b)
	if len(b) > 0 {
		b = append(b, ' ')
	}
	for _, r := range a.GetKey() {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	b = append(b, '=')
	vs := len(b)
	b = a.GetValue().AppendText(b)
	if len(b) == vs {
		return b[:start] // an empty value: no field, as kv
	}
	if needsQuote(unsafe.String(&b[vs], len(b)-vs)) {
		v := string(b[vs:]) // b[vs:] is overwritten by the quoting
		b = strconv.AppendQuote(b[:vs], strings.ToValidUTF8(v, "\uFFFD"))
	}
	return b
}

// sanitizeKey keeps logfmt keys parseable by LogQL's logfmt stage.
func sanitizeKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, k)
}

func kv(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	if len(b) > 0 {
		b = append(b, ' ')
	}
	b = append(b, k...)
	b = append(b, '=')
	if needsQuote(v) {
		return strconv.AppendQuote(b, strings.ToValidUTF8(v, "\uFFFD"))
	}
	return append(b, v...)
}

func kvRaw(b []byte, k, v string) []byte {
	if len(b) > 0 {
		b = append(b, ' ')
	}
	b = append(b, k...)
	b = append(b, '=')
	return append(b, v...)
}

func needsQuote(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '=' || r == '"' || r == '\\' || r > '~' {
			return true
		}
	}
	return false
}
