package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/gen"
	"github.com/logweave/logweave/testkit/audit"
)

// TestDev_RunsPipelineAndRestarts runs `logweave dev` as a subprocess with
// the generator sending over OTLP/gRPC, waits until the file sink delivered records, stops it,
// and checks the files hold unique records; a restart on the same data
// directory writes no record twice.
func TestDev_RunsPipelineAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	delivered := regexp.MustCompile(`file: delivered (\d+)`)
	run := func(genRate string, wantDelivered bool) {
		// The generator exports over OTLP/gRPC here; the file sink test
		// below covers OTLP/HTTP.
		p := start(t, "dev", "--data-dir", dir, "--port", "0", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--gen", genRate,
			"--gen-protocol", "grpc", "--status-every", "500ms")
		deadline := time.After(45 * time.Second)
	wait:
		for {
			select {
			case l, ok := <-p.lines:
				if !ok {
					t.Fatalf("dev exited early; stderr:\n%s", p.stderr.String())
				}
				m := delivered.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				if n, _ := strconv.Atoi(m[1]); n > 0 || !wantDelivered {
					break wait
				}
			case <-deadline:
				t.Fatalf("no delivery within 45s; stderr:\n%s", p.stderr.String())
			}
		}
		p.stop(t)
	}
	run("50", true)
	first := readIDs(t, filepath.Join(dir, "files"))
	if len(first) == 0 {
		t.Fatal("no records in the file sink")
	}
	run("0", false)
	second := readIDs(t, filepath.Join(dir, "files"))
	for id, n := range second {
		if n > 1 {
			t.Errorf("record %s written %d times", id, n)
		}
	}
	if len(second) < len(first) {
		t.Errorf("records lost across the restart: %d then %d", len(first), len(second))
	}
}

// sinkDoc is what the dev tests read from the file sink's documents.
type sinkDoc struct {
	RecordID string `json:"record_id"`
	SubmitID string `json:"submit_id"`
}

// readDocs reads every document the file sink wrote in dir.
func readDocs(t *testing.T, dir string) []sinkDoc {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	var out []sinkDoc
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var d sinkDoc
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, d)
		}
		fh.Close()
	}
	return out
}

// readIDs counts the documents of each record id.
func readIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, d := range readDocs(t, dir) {
		ids[d.RecordID]++
	}
	return ids
}

// TestDev_FileSinkHoldsExactlyTheKeptRecords runs dev with a fixed
// workload and checks the file sink against the manifest and the default
// rules: every submission has exactly its kept records; a restart on the
// same data directory adds nothing and loses nothing.
func TestDev_FileSinkHoldsExactlyTheKeptRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.jsonl")
	p := start(t, "dev", "--data-dir", dir, "--port", "0", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--gen", "100", "--gen-count", "60",
		"--gen-seed", "9", "--gen-manifest", manifest, "--status-every", "500ms")
	p.waitLine(t, "logweave dev: generator done")
	f, err := os.Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := gen.ReadManifest(f)
	f.Close()
	if err != nil || len(entries) != 60 {
		t.Fatalf("manifest: %d entries, %v", len(entries), err)
	}
	rules, _ := enrich.CompileRules(enrich.DefaultRules())
	want := audit.Expected(entries, rules)
	total := audit.Total(want)
	files := filepath.Join(dir, "files")
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, c := range readIDs(t, files) {
			n += c
		}
		if n >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file sink has %d of %d records after 60s; stderr:\n%s", n, total, p.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything extra would arrive now
	p.stop(t)
	check := func(when string) {
		t.Helper()
		per := perSubmission(t, files)
		for sub, n := range want {
			if per[sub] != n {
				t.Errorf("%s: submission %s has %d records, want %d", when, sub, per[sub], n)
			}
		}
		for sub, n := range per {
			if want[sub] == 0 {
				t.Errorf("%s: submission %s has %d records, want none", when, sub, n)
			}
		}
		for id, n := range readIDs(t, files) {
			if n > 1 {
				t.Errorf("%s: record %s written %d times", when, id, n)
			}
		}
	}
	check("first run")
	p = start(t, "dev", "--data-dir", dir, "--port", "0", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--gen", "0", "--status-every", "500ms")
	for i := 0; i < 4; i++ {
		p.waitLine(t, "in ")
	}
	p.stop(t)
	check("after a restart")
}

// perSubmission counts the documents of each submission.
func perSubmission(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range readDocs(t, dir) {
		out[d.SubmitID]++
	}
	return out
}
