//go:build integration

package elasticsearch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/logweave/logweave/find"
	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
)

// startElasticsearch runs the official Elasticsearch 8 image as a generic
// container (the testcontainers elasticsearch module is not available from
// this project's module proxy). It skips when no Docker daemon answers.
func startElasticsearch(t *testing.T) string {
	t.Helper()
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx := context.Background()
	ctr, err := testcontainers.Run(ctx, "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
		testcontainers.WithExposedPorts("9200/tcp"),
		testcontainers.WithEnv(map[string]string{"discovery.type": "single-node", "xpack.security.enabled": "false", "ES_JAVA_OPTS": "-Xms512m -Xmx512m"}),
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute, wait.ForHTTP("/_cluster/health?wait_for_status=yellow").WithPort("9200/tcp")),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("starting elasticsearch: %v", err)
	}
	ep, err := ctr.PortEndpoint(ctx, "9200/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestIntegration_RealElasticsearch runs the sink and find against a real
// Elasticsearch: documents land once per record_id across a replay, the
// template maps the fields, and find shows the submission.
func TestIntegration_RealElasticsearch(t *testing.T) {
	url := startElasticsearch(t)
	ctx := context.Background()
	cfg := elasticsearch.Default()
	cfg.URLs = []string{url}
	s, err := elasticsearch.New(ctx, cfg, prometheus.NewRegistry(), "es")
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := router.New(router.Default())
	var batch []*sinks.Record
	seq := uint32(7)
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("it%04d", i)
		er := &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{
			TimeUnixNano: uint64(time.Now().UnixNano()), SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO, Body: "line " + id,
			Service: "judge", TraceId: []byte("0123456789abcdef")}}},
			Submission: &v1.Submission{SubmitId: "S-it", UserId: "U1", SubmissionSeq: &seq},
			Sampling:   &v1.Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1}, Span: &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_MISSING}}
		d, _ := rt.Route("es", er)
		batch = append(batch, &sinks.Record{Enriched: er, Dest: d})
	}
	for round := 0; round < 2; round++ {
		res, err := s.Write(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Outcome != sinks.Delivered {
				t.Fatalf("round %d item %d: %+v", round, i, r)
			}
		}
	}
	resp, err := http.Post(url+"/logweave-*/_refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(url + "/logweave-*/_count?q=submit_id:S-it")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var count struct {
		Count int `json:"count"`
	}
	json.Unmarshal(body, &count)
	if count.Count != 20 {
		t.Errorf("%d documents after writing 20 records twice: %s", count.Count, body)
	}
	resp, err = http.Get(url + "/_index_template/logweave")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"date_nanos"`) || !strings.Contains(string(body), `"flattened"`) {
		t.Errorf("template: %s", body)
	}
	cl, _ := es.NewClient(es.Config{Addresses: []string{url}})
	tl, err := find.Fetch(ctx, cl, find.Query{User: "U1", Seq: 7}, find.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tl.SubmitID != "S-it" || len(tl.Orphans) != 20 {
		t.Errorf("find: submit %q, %d logs", tl.SubmitID, len(tl.Orphans))
	}
}
