package file

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSink_MetricsCountWritesRedeliveriesAndRotations: records written,
// records the files already held (a redelivery after the partition came
// back), bytes and rotations are counted on the injected registry.
func TestSink_MetricsCountWritesRedeliveriesAndRotations(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s, err := New(Config{Dir: dir, MaxBytes: 2048, MaxAge: time.Hour}, reg, "archive")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for o := int64(0); o < 40; o += 4 {
		writeOK(t, s, recs(0, o, o+4))
	}
	if err := s.ReleasePartition(0); err != nil {
		t.Fatal(err)
	}
	writeOK(t, s, recs(0, 35, 45)) // 35..39 are there already

	if got := testutil.ToFloat64(s.m.records.WithLabelValues("written")); got != 45 {
		t.Errorf("written = %v, want 45", got)
	}
	if got := testutil.ToFloat64(s.m.records.WithLabelValues("present")); got != 5 {
		t.Errorf("present = %v, want 5", got)
	}
	rotated, _ := filepath.Glob(filepath.Join(dir, "p000-*.ndjson"))
	if got := testutil.ToFloat64(s.m.rotations); len(rotated) == 0 || got != float64(len(rotated)) {
		t.Errorf("rotations = %v, rotated files %d", got, len(rotated))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "p000*.ndjson"))
	var size int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	if got := testutil.ToFloat64(s.m.bytes); got != float64(size) {
		t.Errorf("bytes = %v, want %d (what the files hold)", got, size)
	}
	if n := testutil.CollectAndCount(reg, "logweave_file_append_duration_seconds"); n != 1 {
		t.Errorf("append duration series = %d", n)
	}
}
