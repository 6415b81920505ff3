package ingest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Accepted counts the records Kafka acknowledged over every endpoint, not
// the rejected ones, and agrees with logweave_ingest_records_accepted_total.
func TestServer_AcceptedCountsAcknowledgedRecords(t *testing.T) {
	e := newTestEnv(t, nil)
	body := strings.Join([]string{
		`{"msg":"good 1","submit_id":"S1","ts":1799999000}`,
		`{"msg":"broken`,
		`{"msg":"good 2","submit_id":"S2","ts":1799999001}`,
	}, "\n")
	for i := 0; i < 2; i++ {
		if code, _, resp := e.post("/v1/ndjson", "application/x-ndjson", []byte(body), nil); code != http.StatusOK {
			t.Fatalf("status %d: %s", code, resp)
		}
	}
	if got := e.srv.Accepted(); got != 4 {
		t.Errorf("Accepted() = %d, want 4 (two good lines, twice)", got)
	}
	if got := testutil.ToFloat64(e.srv.m.accepted.WithLabelValues(endpointNDJSON)); got != 4 {
		t.Errorf("logweave_ingest_records_accepted_total{endpoint=ndjson} = %v, want 4", got)
	}
}
