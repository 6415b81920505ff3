package stackcheck

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/ingest"
	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/internal/reload"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/file"
	"github.com/logweave/logweave/sinks/loki"
	"github.com/logweave/logweave/testkit/esfake"
)

// sinkTypes are the sink types of the logweave binary, as
// cmd/logweave/components.go lists them.
var sinkTypes = sinks.Factories{file.NewFactory(), elasticsearch.NewFactory(), loki.NewFactory()}

// recorder is a registry that remembers the descriptors of everything
// registered, so vectors with no series yet are known too.
type recorder struct {
	*prometheus.Registry
	metrics map[string]map[string]bool // name -> label names
}

func newRecorder() *recorder {
	return &recorder{Registry: prometheus.NewRegistry(), metrics: map[string]map[string]bool{}}
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)
)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		s := d.String()
		m := descName.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		labels := map[string]bool{}
		if l := descLabels.FindStringSubmatch(s); l != nil {
			for _, kv := range strings.Split(l[1], ",") {
				if name, _, ok := strings.Cut(kv, "="); ok {
					labels[name] = true
				}
			}
			for _, v := range strings.Split(l[2], ",") {
				if v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"); v != "" {
					labels[v] = true
				}
			}
		}
		r.metrics[m[1]] = labels
	}
	return r.Registry.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// roleMetrics builds every role's components on recording registries, as
// cmd/logweave wires them, and returns every metric with its label names.
// Nothing connects anywhere: franz-go clients dial lazily, Elasticsearch is
// the contract server.
func roleMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}
	all := map[string]map[string]bool{}
	merge := func(r *recorder) {
		for n, l := range r.metrics {
			if all[n] == nil {
				all[n] = map[string]bool{}
			}
			for k := range l {
				all[n][k] = true
			}
		}
	}

	ing := newRecorder()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, base...), kafka.ClientMetrics(ing, "ingest"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := ingest.New(ingest.Default(), "logweave.raw", cl, ingest.Deps{Registerer: ing}); err != nil {
		t.Fatal(err)
	}
	merge(ing)

	enr := newRecorder()
	rules, err := enrich.LoadRules("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enrich.New(enrich.DefaultConfig(), enrich.Topics{Raw: "logweave.raw", Enriched: "logweave.enriched", DLQ: "logweave.dlq"}, rules, base, enrich.Deps{Registerer: enr, ClientOpts: []kgo.Opt{kafka.ClientMetrics(enr, "enrich")}}); err != nil {
		t.Fatal(err)
	}
	reload.NewMetrics(enr)
	merge(enr)

	srv := esfake.New()
	defer srv.Close()
	rt, _ := router.New(router.Default())
	topics := sinks.Topics{Enriched: "logweave.enriched", DLQ: "logweave.dlq"}
	for _, f := range sinkTypes {
		name := f.Type()
		reg := newRecorder()
		sec := f.DefaultConfig()
		switch c := sec.(type) {
		case *elasticsearch.Config:
			c.URLs = []string{srv.URL}
		case *file.Config:
			c.Dir = t.TempDir()
		}
		dest, err := f.New(context.Background(), sinks.Settings{Name: name, Registerer: reg}, sec)
		if err != nil {
			t.Fatal(err)
		}
		r, err := sinks.New(sinks.DefaultConfig(name), dest, rt, topics, base, time.Second, sinks.Deps{Registerer: reg, ClientOpts: []kgo.Opt{kafka.ClientMetrics(reg, "sink-"+name)}})
		if err != nil {
			t.Fatal(err)
		}
		_ = r
		dest.Close()
		merge(reg)
	}
	for n, l := range processMetrics(t) {
		if all[n] == nil {
			all[n] = l
		}
	}
	return all
}

// processMetrics scrapes a real logweave process (the binary built by
// make build) for what cmd/logweave registers itself: logweave_build_info,
// the Go and process collectors.
func processMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(binary, "sink", "--name", "file", "--admin", addr, "--brokers", "127.0.0.1:1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LOGWEAVE_CONFIG=")
	logf, _ := os.Create(filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			out := map[string]map[string]bool{}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
					out[f[2]] = map[string]bool{}
				}
			}
			resp.Body.Close()
			if _, ok := out["logweave_build_info"]; !ok {
				t.Fatalf("the process exports no logweave_build_info")
			}
			out["logweave_build_info"] = map[string]bool{"version": true, "revision": true, "goversion": true}
			return out
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("no /metrics from logweave sink within 30s: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// targetLabels are added by the scrape (deploy/prometheus/prometheus.yml).
var targetLabels = map[string]bool{"job": true, "instance": true, "role": true, "sink": true, "le": true, "__name__": true}

// checkSelector reports a metric or label a query uses that no role has.
func checkSelector(metrics map[string]map[string]bool, name string, labels []string) error {
	if name == "up" {
		return nil // Prometheus's own
	}
	base := name
	labelsOf, ok := metrics[base]
	if !ok {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if l, found := metrics[strings.TrimSuffix(name, suf)]; found && strings.HasSuffix(name, suf) {
				labelsOf, ok = l, true
			}
		}
	}
	if !ok {
		return fmt.Errorf("metric %s is registered by no logweave role", name)
	}
	for _, l := range labels {
		if !labelsOf[l] && !targetLabels[l] {
			return fmt.Errorf("metric %s has no label %s", name, l)
		}
	}
	return nil
}
