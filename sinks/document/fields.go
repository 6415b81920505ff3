package document

// Type is how Elasticsearch maps a field (the index template of
// sinks/elasticsearch), and so which JSON value the field holds.
type Type string

// The mapping types of the document's fields.
const (
	// Keyword: a string matched exactly (ids, names, enums).
	Keyword Type = "keyword"
	// Text: a string searched by words.
	Text Type = "text"
	// DateNanos: an RFC 3339 time string with nanoseconds, UTC.
	DateNanos Type = "date_nanos"
	// Integer and Long: whole numbers of 32 and 64 bits.
	Integer Type = "integer"
	Long    Type = "long"
	// Double: a number.
	Double Type = "double"
	// Flattened: an object of attributes, any keys, indexed as keyword
	// leaves so that new keys never grow the mapping.
	Flattened Type = "flattened"
)

// Field is one field of the document.
type Field struct {
	// Path is the field's name, dotted inside objects ("span.join"); the
	// members of an array of objects ("events") are dotted the same way.
	Path string
	// Type is its mapping.
	Type Type
	// KeywordSubfield adds <path>.keyword to a Text field: the value
	// for exact matches and aggregations (up to 1024 bytes).
	KeywordSubfield bool
}

// Fields is the document's field table, in the order Append writes the
// fields: the index template is made from it (sinks/elasticsearch), and
// tests prove that Append writes every field of it and nothing else, with
// values of its type (fields_test.go), and that what `logweave find` and
// `logweave reconcile` read is in it (find/fields_test.go,
// sinks/elasticsearch/lookup_test.go). A field is added here first.
var Fields = []Field{
	{Path: "@timestamp", Type: DateNanos}, // the event time
	{Path: "record_id", Type: Keyword},
	{Path: "kind", Type: Keyword}, // log or span
	{Path: "service", Type: Keyword},
	{Path: "level", Type: Keyword},                       // logs
	{Path: "severity_text", Type: Keyword},               // logs
	{Path: "message", Type: Text, KeywordSubfield: true}, // a log's body, a span's name
	{Path: "submit_id", Type: Keyword},
	{Path: "user_id", Type: Keyword},
	{Path: "problem_id", Type: Keyword},
	{Path: "submission_seq", Type: Integer},
	{Path: "lang", Type: Keyword},
	{Path: "stage", Type: Keyword},
	{Path: "trace_id", Type: Keyword},       // hex
	{Path: "span_id", Type: Keyword},        // hex; a log's span
	{Path: "parent_span_id", Type: Keyword}, // spans
	{Path: "duration_ms", Type: Double},     // spans
	{Path: "status", Type: Keyword},         // spans
	{Path: "status_message", Type: Text},    // spans
	{Path: "span_kind", Type: Keyword},      // spans
	// The span the record ran in (the joined SpanContext).
	{Path: "span.join", Type: Keyword},
	{Path: "span.name", Type: Keyword},
	{Path: "span.stage", Type: Keyword},
	{Path: "span.service", Type: Keyword},
	{Path: "span.parent_span_id", Type: Keyword},
	{Path: "span.duration_ms", Type: Double},
	{Path: "span.status", Type: Keyword},
	{Path: "span.status_message", Type: Text},
	{Path: "kept_by", Type: Keyword},
	{Path: "sample_weight", Type: Double},
	{Path: "namespace", Type: Keyword},
	{Path: "pod", Type: Keyword},
	{Path: "node", Type: Keyword},
	{Path: "cluster", Type: Keyword},
	{Path: "container", Type: Keyword},
	{Path: "log_type", Type: Keyword}, // logs
	{Path: "attributes", Type: Flattened},
	{Path: "resource", Type: Flattened}, // the resource's attributes
	// A span's events.
	{Path: "events.time", Type: DateNanos},
	{Path: "events.name", Type: Keyword},
	{Path: "events.attributes", Type: Flattened},
	// Where the record was read from logweave.raw.
	{Path: "source.topic", Type: Keyword},
	{Path: "source.partition", Type: Integer},
	{Path: "source.offset", Type: Long},
}

// FieldByPath returns the field at path.
func FieldByPath(path string) (Field, bool) {
	for _, f := range Fields {
		if f.Path == path {
			return f, true
		}
	}
	return Field{}, false
}
