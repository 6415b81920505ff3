package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/sinks"
)

// recs returns records of partition p at offsets from..to-1, record ids
// o<offset>.
func recs(p int32, from, to int64) []*sinks.Record {
	var out []*sinks.Record
	for o := from; o < to; o++ {
		out = append(out, rec(p, o, fmt.Sprintf("o%d", o)))
	}
	return out
}

func newSink(t *testing.T, dir string, maxBytes int64) *Sink {
	t.Helper()
	s, err := New(Config{Dir: dir, MaxBytes: maxBytes, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeOK(t *testing.T, s *Sink, batch []*sinks.Record) {
	t.Helper()
	for i, r := range write(t, s, batch...) {
		if r.Outcome != sinks.Delivered {
			t.Fatalf("record at offset %d: %+v", batch[i].Offset, r)
		}
	}
}

// partitionLines reads every line of p's files (rotated first, in name
// order, then the current file).
func partitionLines(t *testing.T, dir string, p int32) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("p%03d-*.ndjson", p)))
	files = append(files, filepath.Join(dir, fmt.Sprintf("p%03d.ndjson", p)))
	var out []string
	for _, f := range files {
		out = append(out, readLines(t, f)...)
	}
	return out
}

// wantOffsets is the body list of records o<from>..o<to-1>.
func wantOffsets(from, to int64) string {
	var s []string
	for o := from; o < to; o++ {
		s = append(s, fmt.Sprintf("o%d", o))
	}
	return strings.Join(s, ",")
}

// TestSink_RedeliveryAfterCrashWritesNoDuplicates: a process wrote up to
// offset 19 and died having committed 10; the next process is sent 10..29
// again and must write only 20..29.
func TestSink_RedeliveryAfterCrashWritesNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	s1 := newSink(t, dir, 1<<20)
	writeOK(t, s1, recs(3, 0, 10))
	writeOK(t, s1, recs(3, 10, 20))
	s1.Close() // the crash: the kernel closes the files and drops the lock

	s2 := newSink(t, dir, 1<<20)
	writeOK(t, s2, recs(3, 10, 15))
	writeOK(t, s2, recs(3, 15, 30))
	writeOK(t, s2, recs(3, 30, 32))
	if got := strings.Join(readLines(t, filepath.Join(dir, "p003.ndjson")), ","); got != wantOffsets(0, 32) {
		t.Errorf("lines after the redelivery = %s", got)
	}
}

// TestSink_RedeliveryAcrossRotation: the records sent again start in a
// rotated file.
func TestSink_RedeliveryAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	s1 := newSink(t, dir, 2048)
	for o := int64(0); o < 40; o += 4 {
		writeOK(t, s1, recs(0, o, o+4))
	}
	s1.Close()
	if rotated, _ := filepath.Glob(filepath.Join(dir, "p000-*.ndjson")); len(rotated) < 2 {
		t.Fatalf("want at least 2 rotated files, got %v", rotated)
	}
	cur := readLines(t, filepath.Join(dir, "p000.ndjson"))
	if len(cur) >= 30 {
		t.Fatalf("the current file holds %d lines; the test needs the redelivery to start in a rotated file", len(cur))
	}

	s2 := newSink(t, dir, 2048)
	for o := int64(5); o < 50; o += 5 {
		writeOK(t, s2, recs(0, o, o+5))
	}
	s2.Close()
	if got := strings.Join(partitionLines(t, dir, 0), ","); got != wantOffsets(0, 50) {
		t.Errorf("lines = %s", got)
	}
}

// TestSink_PartitionMovesBetweenMembers: members A and B share the
// directory; the partition moves A -> B -> A, each new owner being sent
// again what the last one wrote after its last commit. A keeps running
// throughout, so its second ownership must append after B's lines.
func TestSink_PartitionMovesBetweenMembers(t *testing.T) {
	dir := t.TempDir()
	a, b := newSink(t, dir, 1<<20), newSink(t, dir, 1<<20)
	writeOK(t, a, recs(1, 0, 10))
	if err := a.ReleasePartition(1); err != nil {
		t.Fatal(err)
	}
	writeOK(t, b, recs(1, 5, 12))
	writeOK(t, b, recs(1, 12, 20))
	if err := b.ReleasePartition(1); err != nil {
		t.Fatal(err)
	}
	writeOK(t, a, recs(1, 15, 25))
	if got := strings.Join(readLines(t, filepath.Join(dir, "p001.ndjson")), ","); got != wantOffsets(0, 25) {
		t.Errorf("lines = %s", got)
	}
}

// TestSink_LateWriteOfPreviousOwner: A lost the partition without
// noticing (its session expired) and still has the file open; B took over
// and appended. A's late write must land after B's lines, not over them,
// and add only what B did not write.
func TestSink_LateWriteOfPreviousOwner(t *testing.T) {
	dir := t.TempDir()
	a, b := newSink(t, dir, 1<<20), newSink(t, dir, 1<<20)
	writeOK(t, a, recs(1, 0, 10))
	writeOK(t, b, recs(1, 5, 13))
	writeOK(t, a, recs(1, 8, 16))
	if got := strings.Join(readLines(t, filepath.Join(dir, "p001.ndjson")), ","); got != wantOffsets(0, 16) {
		t.Errorf("lines = %s", got)
	}
}

// TestSink_TornLastLineRepairedBeforeRedelivery: a crash mid-write left
// half a line; the next owner cuts it and writes that record and the rest
// of the redelivery once.
func TestSink_TornLastLineRepairedBeforeRedelivery(t *testing.T) {
	dir := t.TempDir()
	s1 := newSink(t, dir, 1<<20)
	writeOK(t, s1, recs(2, 0, 6))
	s1.Close()
	path := filepath.Join(dir, "p002.ndjson")
	torn := string(appendLine(nil, rec(2, 6, "o6")))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn[:len(torn)/2])
	f.Close()

	s2 := newSink(t, dir, 1<<20)
	writeOK(t, s2, recs(2, 3, 10))
	if got := strings.Join(readLines(t, path), ","); got != wantOffsets(0, 10) {
		t.Errorf("lines = %s", got)
	}
}

// TestSink_SameOffsetOtherRecordIsWritten: a line at a redelivered offset
// with another record_id (the topic was re-created) is not taken for the
// record.
func TestSink_SameOffsetOtherRecordIsWritten(t *testing.T) {
	dir := t.TempDir()
	s1 := newSink(t, dir, 1<<20)
	writeOK(t, s1, recs(0, 0, 3))
	s1.Close()
	s2 := newSink(t, dir, 1<<20)
	writeOK(t, s2, []*sinks.Record{rec(0, 1, "o1"), rec(0, 2, "new2")})
	if got := strings.Join(readLines(t, filepath.Join(dir, "p000.ndjson")), ","); got != "o0,o1,o2,new2" {
		t.Errorf("lines = %s", got)
	}
}

// TestSink_FsyncsDirectoryOnCreateAndRename: a created file's name and a
// rotation's rename are durable before the records written after them are
// reported delivered.
func TestSink_FsyncsDirectoryOnCreateAndRename(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, 1024)
	var ops []string
	s.openFile = func(name string) (handle, error) {
		h, err := openOS(name)
		if err != nil {
			return nil, err
		}
		ops = append(ops, "open")
		return &fakeFile{handle: h, ops: &ops}, nil
	}
	s.syncDir = func(d string) error {
		if d != dir {
			t.Errorf("synced %s, want %s", d, dir)
		}
		ops = append(ops, "syncdir")
		return nil
	}
	long := strings.Repeat("x", 600)
	write(t, s, rec(0, 0, long))
	if got := strings.Join(ops, ","); !strings.HasPrefix(got, "open,") || !strings.HasSuffix(got, "syncdir,write,sync") {
		t.Fatalf("ops for the first write = %s, want open ... syncdir before write,sync", got)
	}
	ops = nil
	write(t, s, rec(0, 1, long)) // rotates
	if got := strings.Join(ops, ","); got != "syncdir,open,syncdir,write,sync" {
		t.Fatalf("ops for the rotating write = %s, want the rename synced before the new file is opened", got)
	}
}

// TestSink_ConcurrentWritersShareAPartitionFile: two writers of one
// partition file at once (a replay writing where the live sink writes),
// with rotations: every line whole, every record once.
func TestSink_ConcurrentWritersShareAPartitionFile(t *testing.T) {
	dir := t.TempDir()
	a, b := newSink(t, dir, 8<<10), newSink(t, dir, 8<<10)
	var wg sync.WaitGroup
	for i, s := range []*Sink{a, b} {
		base := int64(i) * 1000
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := base; o < base+300; o += 10 {
				res, err := s.Write(context.Background(), recs(0, o, o+10))
				if err != nil || res[0].Outcome != sinks.Delivered {
					t.Errorf("writer %d at %d: %v %+v", i, o, err, res[0])
					return
				}
			}
		}()
	}
	wg.Wait()
	a.Close()
	b.Close()
	if rotated, _ := filepath.Glob(filepath.Join(dir, "p000-*.ndjson")); len(rotated) < 2 {
		t.Fatalf("want rotations, got %v", rotated)
	}
	count := map[string]int{}
	for _, l := range partitionLines(t, dir, 0) { // readLines fails on a torn line
		count[l]++
	}
	for _, base := range []int64{0, 1000} {
		for o := base; o < base+300; o++ {
			if n := count[fmt.Sprintf("o%d", o)]; n != 1 {
				t.Errorf("record at offset %d written %d times", o, n)
			}
		}
	}
	if len(count) != 600 {
		t.Errorf("%d distinct records, want 600", len(count))
	}
}
