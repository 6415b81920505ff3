package elasticsearch_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/testkit/audit"
	"github.com/logweave/logweave/testkit/e2etest"
	"github.com/logweave/logweave/testkit/esfake"
)

// TestEndToEnd_GenToElasticsearch: gen -> ingest -> enrich -> ES sink on
// kfake; the fake Elasticsearch holds exactly the kept records of the
// manifest, one document each.
func TestEndToEnd_GenToElasticsearch(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	scfg := elasticsearch.Default()
	scfg.URLs = []string{srv.URL}
	reg := prometheus.NewRegistry()
	dest, err := elasticsearch.New(context.Background(), scfg, reg, "es")
	if err != nil {
		t.Fatal(err)
	}
	p := e2etest.Run(t, "es", dest, reg, 5, 120)
	want := audit.Expected(p.Manifest, p.Rules)
	per := map[string]int{}
	count := func() int {
		n := 0
		per = map[string]int{}
		for _, docs := range srv.AllDocs() {
			for _, d := range docs {
				var doc struct {
					SubmitID string `json:"submit_id"`
				}
				json.Unmarshal(d, &doc)
				per[doc.SubmitID]++
				n++
			}
		}
		return n
	}
	if n := e2etest.WaitFor(audit.Total(want), 45*time.Second, count); n != audit.Total(want) {
		t.Errorf("%d documents, want %d", n, audit.Total(want))
	}
	for sub, w := range want {
		if per[sub] != w {
			t.Errorf("submission %s: %d documents, want %d", sub, per[sub], w)
		}
	}
	p.Stop(t)
}
