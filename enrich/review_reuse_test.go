package enrich

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// The enriched records of a transaction are slices of a per-partition
// buffer reused after a commit. A produce still in flight when the flush
// gives up (its deadline) must neither see that buffer rewritten nor be
// written twice: the transaction is aborted, the state rebuilt, and every
// record goes out once, intact (run with -race: a write into a buffer the
// client still reads is a data race).
func TestEnricher_ProducePastDeadlineNotDuplicated(t *testing.T) {
	v := newEnv(t)
	var fired atomic.Bool
	v.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		if req.TransactionID == nil || !fired.CompareAndSwap(false, true) { // the enricher's transactional produce
			return nil, nil, false
		}
		v.cluster.SleepControl(func() { <-time.After(2500 * time.Millisecond) })
		return nil, nil, false
	})
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 200 * time.Millisecond
	cfg.TransactionTimeout = 1500 * time.Millisecond
	en := v.startEnricher(cfg)
	cl := v.cluster.Client()
	a := keyFor(0)
	v.produceRaw(cl, a, logEnv("a-log", a, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	v.produceRaw(cl, a, rootSpan("a-span", a))
	waitFor(t, 30*time.Second, "the delayed transaction to fail", func() bool {
		return testutil.ToFloat64(en.e.m.txns.WithLabelValues("aborted")) >= 1
	})
	b := keyForOther(0, 7)
	v.produceRaw(cl, b, logEnv("b-log", b, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	v.produceRaw(cl, b, rootSpan("b-span", b))
	c := keyForOther(0, 9)
	v.produceRaw(cl, c, logEnv("c-log", c, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	v.produceRaw(cl, c, rootSpan("c-span", c))
	got := v.readEnriched(6, 30*time.Second)
	checkExactlyOnce(t, got, map[string]int{a: 2, b: 2, c: 2})
	for _, r := range got {
		if r.GetRecord().GetRecordId() != r.GetRecordId() || r.GetSubmission().GetSubmitId() == "" {
			t.Errorf("enriched record garbled: %v", r)
		}
	}
}
