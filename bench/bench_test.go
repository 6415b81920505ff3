package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU_CommandWithSpaces(t *testing.T) {
	stat := []byte("4242 (log weave) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 1000000 500 18446744073709551615\n")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Fatalf("cpu %v, want %v (utime 250 + stime 75 ticks)", got, want)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1")); err == nil {
		t.Fatal("a short stat line parsed")
	}
}

func TestParseStatusKB_VmHWM(t *testing.T) {
	status := []byte("Name:\tlogweave\nVmPeak:\t  900 kB\nVmHWM:\t   52344 kB\nVmRSS:\t 40000 kB\n")
	if got := parseStatusKB(status, "VmHWM:"); got != 52344 {
		t.Fatalf("VmHWM %d, want 52344", got)
	}
}

func TestParseMetrics_SumsSeries(t *testing.T) {
	m := parseMetrics([]byte(`# HELP x y
# TYPE logweave_sink_records_total counter
logweave_sink_records_total{outcome="written",sink="file"} 100
logweave_sink_records_total{outcome="dead_lettered",sink="file"} 2
go_memstats_heap_inuse_bytes 1.5e+07
logweave_enrich_pending_bytes{} 3
`))
	if m["logweave_sink_records_total"] != 102 || m["go_memstats_heap_inuse_bytes"] != 1.5e7 || m["logweave_enrich_pending_bytes"] != 3 {
		t.Fatalf("parsed %v", m)
	}
}

func TestWorkload_DeterministicShape(t *testing.T) {
	cfg := Default()
	cfg.Submissions, cfg.Base = 60, time.Unix(1_800_000_000, 0)
	a, n := workload(cfg)
	b, _ := workload(cfg)
	if n != 60*25 {
		t.Fatalf("%d records, want %d (5 spans + 20 logs per submission)", n, 60*25)
	}
	if len(a) != 6 { // 3 batches of 25, 25, 10: a traces and a logs request each
		t.Fatalf("%d requests, want 6", len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].body, b[i].body) {
			t.Fatalf("request %d differs between two builds of the same workload", i)
		}
	}
}

func TestLokiBinary_MissingSaysWhy(t *testing.T) {
	if bin, why := lokiBinary(""); bin != "" || !strings.Contains(why, "--loki-bin") {
		t.Errorf("no binary given: %q, %q", bin, why)
	}
	missing := filepath.Join(t.TempDir(), "loki")
	if bin, why := lokiBinary(missing); bin != "" || !strings.Contains(why, missing) {
		t.Errorf("missing binary: %q, %q", bin, why)
	}
	if bin, why := lokiBinary(os.Args[0]); bin != os.Args[0] || why != "" {
		t.Errorf("existing binary: %q, %q", bin, why)
	}
}

func TestConfig_LokiSinkAllowed(t *testing.T) {
	cfg := Default()
	cfg.Sinks = []string{"file", "es", "loki"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Sinks = []string{"kafka"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "allowed: file, es, loki") {
		t.Fatalf("unknown sink: %v", err)
	}
}
