//go:build unix

package file

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logweave/logweave/sinks"
)

// TestSink_WaitsForAnotherWritersLock: while another writer holds the
// partition's lock, a write answers retry instead of writing.
func TestSink_WaitsForAnotherWritersLock(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir, 1<<20)
	s.lockWait = 0
	other, err := os.OpenFile(filepath.Join(dir, "p004.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := tryLock(other); err != nil {
		t.Fatal(err)
	}
	if res := write(t, s, recs(4, 0, 3)...); res[0].Outcome != sinks.Retry || res[0].Reason != "locked" {
		t.Fatalf("write while another writer holds the lock: %+v", res[0])
	}
	if err := unlock(other); err != nil {
		t.Fatal(err)
	}
	writeOK(t, s, recs(4, 0, 3))
	if got := readLines(t, filepath.Join(dir, "p004.ndjson")); len(got) != 3 {
		t.Errorf("lines = %v", got)
	}
}
