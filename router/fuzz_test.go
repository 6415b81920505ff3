package router

import (
	"testing"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// FuzzParse checks that route files (matches, index and tenant patterns,
// labels) never panic the parser, and that routes it accepts route a
// record without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`routes:
  - name: default
    sinks: ["*"]
    index: "logweave-{kind}-{yyyy.MM.dd}"
    labels: [service, level]
    metadata: [record_id]
`))
	f.Add([]byte(`routes: [{name: a, match: {kind: [span], level: [error]}, sinks: [es], index: "x-{service}-{yyyy}", tenant: "{namespace}"}]`))
	f.Add([]byte(`routes: [{name: c, match: 'kind == "span" and (level >= warn or span.duration > 10s) and attr["k"] in [1, "x"]', sinks: ["*"]}]`))
	f.Add([]byte(`routes: [{name: b, sinks: [loki], drop: true, index: "{"}]`))
	rec := &v1.EnrichedRecord{RecordId: "r", Record: &v1.Envelope{RecordId: "r", Record: &v1.Envelope_Log{Log: &v1.Log{Body: "x", Service: "judge", TimeUnixNano: 1}}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse(b)
		if err != nil {
			return
		}
		rt, err := New(cfg)
		if err != nil {
			return
		}
		for _, sink := range []string{"es", "loki", "file"} {
			rt.Route(sink, rec)
		}
	})
}
