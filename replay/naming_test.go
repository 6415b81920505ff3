package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func TestJobName_SinkAndStartInUTC(t *testing.T) {
	from := time.Date(2027, 1, 15, 9, 30, 5, 0, time.FixedZone("CET", 3600))
	if got, want := JobName("es", from), "es-20270115t083005z"; got != want {
		t.Errorf("JobName = %q, want %q", got, want)
	}
}

// A target index replaces every route's index, and only in the job's
// router; without one the routes' own indices stay.
func TestTargetRouter_OverridesEveryRouteIndex(t *testing.T) {
	routes, err := router.Parse([]byte(`routes:
  - {name: errors, sinks: ["*"], match: {level: [error]}, index: "errors-{yyyy.MM.dd}"}
  - {name: rest, sinks: ["*"], index: "rest-{yyyy.MM.dd}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := func(sev v1.SeverityNumber) *v1.EnrichedRecord {
		return &v1.EnrichedRecord{RecordId: "r", Record: &v1.Envelope{RecordId: "r", Record: &v1.Envelope_Log{Log: &v1.Log{
			TimeUnixNano: uint64(time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC).UnixNano()), SeverityNumber: sev, Body: "x"}}}}
	}
	for _, tc := range []struct {
		index string
		want  map[v1.SeverityNumber]string
	}{
		{"", map[v1.SeverityNumber]string{v1.SeverityNumber_SEVERITY_NUMBER_ERROR: "errors-2027.01.15", v1.SeverityNumber_SEVERITY_NUMBER_INFO: "rest-2027.01.15"}},
		{"backfill-{yyyy.MM.dd}", map[v1.SeverityNumber]string{v1.SeverityNumber_SEVERITY_NUMBER_ERROR: "backfill-2027.01.15", v1.SeverityNumber_SEVERITY_NUMBER_INFO: "backfill-2027.01.15"}},
	} {
		rt, err := TargetRouter(routes, tc.index)
		if err != nil {
			t.Fatalf("%q: %v", tc.index, err)
		}
		for sev, want := range tc.want {
			if d, ok := rt.Route("es", rec(sev)); !ok || d.Index != want {
				t.Errorf("target %q, %v: index %q (%v), want %q", tc.index, sev, d.Index, ok, want)
			}
		}
	}
	if routes.Routes[0].Index != "errors-{yyyy.MM.dd}" {
		t.Errorf("the caller's routes changed: %+v", routes.Routes[0])
	}
	if _, err := TargetRouter(routes, "bad-{no_such_field}"); err == nil || !strings.Contains(err.Error(), `target index "bad-{no_such_field}"`) {
		t.Errorf("a bad target index: %v", err)
	}
}
