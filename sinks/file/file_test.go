package file

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
)

func rec(p int32, off int64, body string) *sinks.Record {
	return &sinks.Record{Partition: p, Offset: off, Enriched: &v1.EnrichedRecord{
		RecordId: body, Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 1, Body: body}}},
	}}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, doc["message"].(string))
	}
	return out
}

func write(t *testing.T, s *Sink, batch ...*sinks.Record) []sinks.Result {
	t.Helper()
	res, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSink_WritesPerPartitionAndRotates(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Dir: dir, MaxBytes: 1024, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	long := strings.Repeat("x", 300)
	for i := 0; i < 6; i++ {
		res := write(t, s, rec(2, int64(i), long+string(rune('a'+i))))
		if res[0].Outcome != sinks.Delivered {
			t.Fatalf("write %d: %+v", i, res[0])
		}
		now = now.Add(time.Second)
	}
	write(t, s, rec(5, 0, "other partition"))
	// Age rotation.
	now = now.Add(2 * time.Hour)
	write(t, s, rec(5, 1, "after an hour"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rotated2, _ := filepath.Glob(filepath.Join(dir, "p002-*.ndjson"))
	rotated5, _ := filepath.Glob(filepath.Join(dir, "p005-*.ndjson"))
	if len(rotated2) < 1 || len(rotated5) != 1 {
		t.Fatalf("rotated files: %v %v", rotated2, rotated5)
	}
	var all []string
	for _, f := range append(rotated2, filepath.Join(dir, "p002.ndjson")) {
		lines := readLines(t, f)
		if st, _ := os.Stat(f); st.Size() > 1024 {
			t.Errorf("%s is %d bytes, rotation at 1024", f, st.Size())
		}
		all = append(all, lines...)
	}
	if len(all) != 6 {
		t.Errorf("%d lines across partition 2's files, want 6", len(all))
	}
	if got := readLines(t, filepath.Join(dir, "p005.ndjson")); len(got) != 1 || got[0] != "after an hour" {
		t.Errorf("current p005 = %v", got)
	}
}

func TestSink_RestartRepairsTornLine(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(Config{Dir: dir, MaxBytes: 1 << 20, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	write(t, s, rec(0, 0, "one"), rec(0, 1, "two"))
	s.Close()
	// A crash mid-write left half a document.
	path := filepath.Join(dir, "p000.ndjson")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"@timestamp":"2026-01-01T00:00:00Z","mess`)
	f.Close()

	s2, _ := New(Config{Dir: dir, MaxBytes: 1 << 20, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	write(t, s2, rec(0, 2, "three"))
	s2.Close()
	if got := readLines(t, path); strings.Join(got, ",") != "one,two,three" {
		t.Errorf("lines after restart = %v", got)
	}
}

// fakeFile wraps a real file and records the order of writes and syncs.
type fakeFile struct {
	handle
	mu       sync.Mutex
	ops      *[]string
	failSync error
}

func (f *fakeFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	*f.ops = append(*f.ops, "write")
	f.mu.Unlock()
	return f.handle.Write(b)
}

func (f *fakeFile) Sync() error {
	f.mu.Lock()
	*f.ops = append(*f.ops, "sync")
	f.mu.Unlock()
	if f.failSync != nil {
		return f.failSync
	}
	return f.handle.Sync()
}

func TestSink_FsyncBeforeDelivered(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(Config{Dir: dir, MaxBytes: 1 << 20, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	var ops []string
	var fake *fakeFile
	s.openFile = func(name string) (handle, error) {
		h, err := openOS(name)
		if err != nil {
			return nil, err
		}
		fake = &fakeFile{handle: h, ops: &ops}
		return fake, nil
	}
	write(t, s, rec(1, 0, "a"))
	if strings.Join(ops, ",") != "write,sync" {
		t.Fatalf("ops for the first write = %v, want write then sync", ops)
	}
	ops = nil
	write(t, s, rec(1, 1, "b"))
	if strings.Join(ops, ",") != "write,sync" {
		t.Fatalf("ops for one delivered write = %v, want write then sync", ops)
	}
	// A failed fsync is not delivered, and the bytes are taken back so the
	// retry does not duplicate or tear lines.
	fake.failSync = errors.New("disk on fire")
	res := write(t, s, rec(1, 2, "c"))
	if res[0].Outcome != sinks.Retry || res[0].Reason != "io" {
		t.Fatalf("result with failing fsync = %+v", res[0])
	}
	fake.failSync = nil
	if res := write(t, s, rec(1, 2, "c")); res[0].Outcome != sinks.Delivered {
		t.Fatalf("retry = %+v", res[0])
	}
	s.Close()
	if got := readLines(t, filepath.Join(dir, "p001.ndjson")); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("lines = %v", got)
	}
}
