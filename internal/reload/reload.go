// Package reload re-applies a configuration file when it changes or when
// the process gets SIGHUP. A file that fails to apply leaves the previous
// configuration in place; the failure is logged and counted.
package reload

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count reload attempts of every watched file.
type Metrics struct {
	reloads *prometheus.CounterVec
	ok      *prometheus.GaugeVec
}

// NewMetrics registers the reload metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logweave_config_reloads_total",
			Help: "Reloads of hot-reloadable files (sampling rules, routes), by file kind and result (ok, error).",
		}, []string{"kind", "result"}),
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logweave_config_last_reload_ok",
			Help: "1 when the last reload of the file kind applied, 0 when it failed and the previous configuration is still in use.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.reloads, m.ok)
	return m
}

// Watcher watches one file.
type Watcher struct {
	// Kind names the file in logs and metrics ("rules", "routes").
	Kind string
	Path string
	// Interval between checks of the file's content. Default 2s.
	Interval time.Duration
	// Signal triggers a reload even when the content did not change
	// (SIGHUP); may be nil.
	Signal <-chan os.Signal
	// Apply parses and applies new content; an error keeps the old.
	Apply   func([]byte) error
	Logger  *slog.Logger
	Metrics *Metrics
}

// Run watches until ctx is done. The file's content at start is taken as
// already applied.
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	last, _ := os.ReadFile(w.Path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.Signal:
			force = true
		}
		b, err := os.ReadFile(w.Path)
		if err != nil {
			if force {
				w.result(err)
			}
			continue
		}
		if !force && bytes.Equal(b, last) {
			continue
		}
		// An editor or a non-atomic writer may be half way through:
		// apply only content that stays the same for a moment.
		time.Sleep(min(interval, 100*time.Millisecond))
		if again, err := os.ReadFile(w.Path); err != nil || !bytes.Equal(again, b) {
			continue
		}
		last = b
		w.result(w.Apply(b))
	}
}

func (w *Watcher) result(err error) {
	result, ok := "ok", 1.0
	if err != nil {
		result, ok = "error", 0
		w.Logger.Error("reloading "+w.Kind+" failed; keeping the previous "+w.Kind, "file", w.Path, "err", err)
	} else {
		w.Logger.Info("reloaded "+w.Kind, "file", w.Path)
	}
	if w.Metrics != nil {
		w.Metrics.reloads.WithLabelValues(w.Kind, result).Inc()
		w.Metrics.ok.WithLabelValues(w.Kind).Set(ok)
	}
}
