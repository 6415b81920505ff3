package loki_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/sinks/loki"
	"github.com/logweave/logweave/testkit/audit"
	"github.com/logweave/logweave/testkit/e2etest"
	"github.com/logweave/logweave/testkit/lokitest"
)

// TestEndToEnd_GenToLoki: gen -> ingest -> enrich -> Loki sink on kfake;
// the real Loki holds exactly the kept log lines of the manifest.
func TestEndToEnd_GenToLoki(t *testing.T) {
	l := lokitest.Start(t)
	start := time.Now().Add(-time.Minute)
	lcfg := loki.Default()
	lcfg.URL = l.URL
	reg := prometheus.NewRegistry()
	dest, err := loki.New(lcfg, reg, "loki")
	if err != nil {
		t.Fatal(err)
	}
	p := e2etest.Run(t, "loki", dest, reg, 8, 80)
	want := audit.ExpectedKind(p.Manifest, p.Rules, "log")
	per := map[string]int{}
	count := func() int {
		q := url.Values{"query": {`{service=~".+"}`}, "start": {strconv.FormatInt(start.UnixNano(), 10)},
			"end": {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)}, "limit": {"5000"}}
		resp, err := http.Get(l.URL + "/loki/api/v1/query_range?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var r struct {
			Data struct {
				Result []struct {
					Stream map[string]string `json:"stream"`
					Values [][]string        `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		json.Unmarshal(body, &r)
		per = map[string]int{}
		n := 0
		for _, s := range r.Data.Result {
			per[s.Stream["submit_id"]] += len(s.Values)
			n += len(s.Values)
		}
		return n
	}
	if n := e2etest.WaitFor(audit.Total(want), 60*time.Second, count); n != audit.Total(want) {
		t.Errorf("%d log lines in Loki, want %d", n, audit.Total(want))
	}
	for sub, w := range want {
		if per[sub] != w {
			t.Errorf("submission %s: %d lines, want %d", sub, per[sub], w)
		}
	}
	p.Stop(t)
}
