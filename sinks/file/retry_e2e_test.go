package file

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/testkit/testkafka"
)

// An OTLP client that retries a batch after a timeout sends the same
// records again (same content, same record_id): the same batch sent three
// times, through ingest, enrich and the file sink, lands once (issue 12).
func TestPipeline_SameBatchThreeTimesOnceInFiles(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw", "logweave.enriched", "logweave.dlq"))
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rules, _ := enrich.CompileRules(enrich.DefaultRules())
	ecfg := enrich.DefaultConfig()
	ecfg.FlushInterval = 100 * time.Millisecond
	ecfg.CompletionGrace = 500 * time.Millisecond
	ecfg.TransactionalID = "retry-e2e"
	en, err := enrich.New(ecfg, enrich.Topics{Raw: "logweave.raw", Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, rules, base,
		enrich.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	fcfg := Default()
	fcfg.Dir = t.TempDir()
	dest, err := New(fcfg, prometheus.NewRegistry(), "file")
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := router.New(router.Default())
	scfg := sinks.DefaultConfig("file")
	scfg.Batch.Linger = 20 * time.Millisecond
	runner, err := sinks.New(scfg, dest, rt, sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, base, time.Second, sinks.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	var done []chan error
	for _, run := range []func(context.Context) error{en.Run, runner.Run} {
		d := make(chan error, 1)
		done = append(done, d)
		go func(run func(context.Context) error) { d <- run(ctx) }(run)
	}
	defer func() {
		cancel()
		for _, d := range done {
			<-d
		}
	}()
	icfg := ingest.Default()
	isrv, err := ingest.New(icfg, "logweave.raw", c.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(isrv.Handler())
	defer hs.Close()

	now := time.Now().UnixNano()
	traces := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"judge"}}]},
"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"submission",
"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"submit_id","value":{"stringValue":"S-retry"}},
{"key":"user_id","value":{"stringValue":"U1"}}]}]}]}]}`, now, now+1000)
	logs := fmt.Sprintf(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"judge"}}]},
"scopeLogs":[{"logRecords":[{"timeUnixNano":"%d","severityNumber":17,"body":{"stringValue":"wrong answer"},
"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","attributes":[{"key":"submit_id","value":{"stringValue":"S-retry"}}]},
{"timeUnixNano":"%d","severityNumber":9,"body":{"stringValue":"test 1 passed"},
"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","attributes":[{"key":"submit_id","value":{"stringValue":"S-retry"}}]}]}]}]}`, now, now+1)
	for i := 0; i < 3; i++ {
		for path, body := range map[string]string{"/v1/traces": traces, "/v1/logs": logs} {
			resp, err := http.Post(hs.URL+path, "application/json", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST %s: %s", path, resp.Status)
			}
		}
		if i == 0 {
			// The retries come after the submission was decided, as a
			// client's retry after a timeout does.
			waitFor(t, 30*time.Second, "the 3 records in the files", func() bool {
				ids, _ := countFiles(t, fcfg.Dir)
				return len(ids) >= 3
			})
		}
	}
	// Everything read and committed by both groups: nothing more can come.
	adm := c.Admin()
	drained := func(group, topic string) bool {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err != nil {
			return false
		}
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			return false
		}
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if c, found := offs.Lookup(topic, o.Partition); o.Offset > 0 && (!found || c.At < o.Offset) {
				ok = false
			}
		})
		return ok
	}
	waitFor(t, 30*time.Second, "enrich and the sink to commit everything", func() bool {
		return drained(enrich.Group, "logweave.raw") && drained("logweave-sink-file", "logweave.enriched")
	})
	ids, torn := countFiles(t, fcfg.Dir)
	if len(ids) != 3 || torn != 0 {
		t.Errorf("files hold %d records (%d torn lines), want the 3 once: %v", len(ids), torn, ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("record %s in the files %d times", id, n)
		}
	}
}
