package logweavev1

// Level names, lowest first, as logweave uses them in rules, documents and
// labels.
const (
	LevelUnknown = "unknown"
	LevelTrace   = "trace"
	LevelDebug   = "debug"
	LevelInfo    = "info"
	LevelWarn    = "warn"
	LevelError   = "error"
	LevelFatal   = "fatal"
)

// Level maps a severity number to its level name.
func (n SeverityNumber) Level() string {
	switch {
	case n >= 21:
		return LevelFatal
	case n >= 17:
		return LevelError
	case n >= 13:
		return LevelWarn
	case n >= 9:
		return LevelInfo
	case n >= 5:
		return LevelDebug
	case n >= 1:
		return LevelTrace
	}
	return LevelUnknown
}

// Kind is "log", "span" or "trace_link", or "" for an empty envelope.
func (e *Envelope) Kind() string {
	switch e.GetRecord().(type) {
	case *Envelope_Log:
		return KindLog
	case *Envelope_Span:
		return KindSpan
	case *Envelope_TraceLink:
		return KindTraceLink
	}
	return ""
}

// EventTimeUnixNano is when the record happened: a log's time (its observed
// time when it has none), a span's start.
func (e *Envelope) EventTimeUnixNano() uint64 {
	if l := e.GetLog(); l != nil {
		if l.GetTimeUnixNano() != 0 {
			return l.GetTimeUnixNano()
		}
		return l.GetObservedTimeUnixNano()
	}
	return e.GetSpan().GetStartTimeUnixNano()
}

// Service is the service of the record.
func (e *Envelope) Service() string {
	if l := e.GetLog(); l != nil {
		return l.GetService()
	}
	return e.GetSpan().GetService()
}

// Resource is the resource of the record.
func (e *Envelope) Resource() *Resource {
	if l := e.GetLog(); l != nil {
		return l.GetResource()
	}
	return e.GetSpan().GetResource()
}

// Submission is the submission context of the record as produced.
func (e *Envelope) Submission() *Submission {
	if l := e.GetLog(); l != nil {
		return l.GetSubmission()
	}
	return e.GetSpan().GetSubmission()
}

// Attributes are the record's own attributes.
func (e *Envelope) Attributes() []*KeyValue {
	if l := e.GetLog(); l != nil {
		return l.GetAttributes()
	}
	return e.GetSpan().GetAttributes()
}

// TraceID is the record's trace id, or nil.
func (e *Envelope) TraceID() []byte {
	if l := e.GetLog(); l != nil {
		return l.GetTraceId()
	}
	return e.GetSpan().GetTraceId()
}

// Name is the lowercase name of a stage, or "" when unspecified.
func (s Stage) Name() string {
	switch s {
	case Stage_STAGE_COMPILE:
		return "compile"
	case Stage_STAGE_JUDGE:
		return "judge"
	case Stage_STAGE_SCORE:
		return "score"
	case Stage_STAGE_FEEDBACK:
		return "feedback"
	}
	return ""
}

// Name is the lowercase name of a log type, "app" when unspecified.
func (t LogType) Name() string {
	switch t {
	case LogType_LOG_TYPE_AUDIT:
		return "audit"
	case LogType_LOG_TYPE_EVENT:
		return "event"
	}
	return "app"
}

// Name is "unset", "ok" or "error".
func (c StatusCode) Name() string {
	switch c {
	case StatusCode_STATUS_CODE_OK:
		return "ok"
	case StatusCode_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}
