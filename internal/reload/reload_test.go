package reload

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWatcher_AppliesChangesKeepsOldOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(s string) {
		tmp := path + ".tmp"
		os.WriteFile(tmp, []byte(s), 0o600)
		os.Rename(tmp, path)
	}
	write("v1")
	var (
		mu      sync.Mutex
		applied []string
	)
	m := NewMetrics(prometheus.NewRegistry())
	sig := make(chan os.Signal, 1)
	w := &Watcher{Kind: "rules", Path: path, Interval: 10 * time.Millisecond, Signal: sig, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Apply: func(b []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if string(b) == "bad" {
				return errors.New("parse error")
			}
			applied = append(applied, string(b))
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	appliedN := func() int { mu.Lock(); defer mu.Unlock(); return len(applied) }
	time.Sleep(30 * time.Millisecond)
	if appliedN() != 0 {
		t.Fatalf("initial content re-applied: %v", applied)
	}
	write("v2")
	waitFor(func() bool { return appliedN() == 1 }, "v2")
	write("bad")
	waitFor(func() bool { return testutil.ToFloat64(m.reloads.WithLabelValues("rules", "error")) == 1 }, "the error")
	if testutil.ToFloat64(m.ok.WithLabelValues("rules")) != 0 {
		t.Errorf("last reload ok gauge not 0 after a bad file")
	}
	write("v3")
	waitFor(func() bool { return appliedN() == 2 }, "v3")
	sig <- os.Interrupt // SIGHUP-style forced reload of unchanged content
	waitFor(func() bool { return appliedN() == 3 }, "forced reload")
	mu.Lock()
	defer mu.Unlock()
	if applied[0] != "v2" || applied[1] != "v3" || applied[2] != "v3" {
		t.Errorf("applied = %v", applied)
	}
}
