package ingest

import (
	"strings"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func strValue(s string) *v1.AnyValue {
	return &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: s}}
}

// take removes the first attribute whose key is in keys and returns its
// value. Keys are tried in order; the attribute list keeps its order. It
// removes in place: the list's backing array must be the caller's alone
// (every list the decoders build is).
func take(attrs *[]*v1.KeyValue, keys []string) (*v1.AnyValue, bool) {
	for _, k := range keys {
		for i, kv := range *attrs {
			if kv.GetKey() == k {
				a := *attrs
				copy(a[i:], a[i+1:])
				a[len(a)-1] = nil
				*attrs = a[:len(a)-1]
				return kv.GetValue(), true
			}
		}
	}
	return nil, false
}

// takeString is take for a value wanted as text.
func takeString(attrs *[]*v1.KeyValue, keys []string) string {
	v, ok := take(attrs, keys)
	if !ok {
		return ""
	}
	return v.Text()
}

func parseLogType(s string) v1.LogType {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "app", "application", "":
		return v1.LogType_LOG_TYPE_APP
	case "audit":
		return v1.LogType_LOG_TYPE_AUDIT
	case "event", "k8s_event", "events":
		return v1.LogType_LOG_TYPE_EVENT
	}
	return v1.LogType_LOG_TYPE_APP
}

// severityFromText maps common level spellings (OpenTelemetry, zap,
// zerolog, slog, syslog) to the OpenTelemetry severity numbers.
func severityFromText(s string) v1.SeverityNumber {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "trc":
		return v1.SeverityNumber_SEVERITY_NUMBER_TRACE
	case "debug", "dbg", "d":
		return v1.SeverityNumber_SEVERITY_NUMBER_DEBUG
	case "info", "inf", "information", "informational", "notice", "i":
		return v1.SeverityNumber_SEVERITY_NUMBER_INFO
	case "warn", "warning", "wrn", "w":
		return v1.SeverityNumber_SEVERITY_NUMBER_WARN
	case "error", "err", "erro", "e":
		return v1.SeverityNumber_SEVERITY_NUMBER_ERROR
	case "fatal", "ftl", "critical", "crit", "panic", "dpanic", "alert", "emerg", "emergency", "f":
		return v1.SeverityNumber_SEVERITY_NUMBER_FATAL
	}
	return v1.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED
}

// severityFromNumber keeps OpenTelemetry severity numbers (1-24); anything
// else is unspecified.
func severityFromNumber(n int64) v1.SeverityNumber {
	if n >= 1 && n <= 24 {
		return v1.SeverityNumber(n)
	}
	return v1.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED
}
