//go:build chaos

package fleet

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loadFigures is what the run cost and whether the fleet kept up: the
// figures behind "the maximum this machine sustains" (docs/BENCHMARKS.md).
// CPU is counted from the start of the workload until the pipeline
// drained, per role, from each process's own accounting (/proc/<pid>/stat
// while it runs, its wait status once it exited), restarts included.
type loadFigures struct {
	Rate        float64            `json:"rate_submissions_per_s"`
	GenSummary  string             `json:"gen_summary"`
	RawRecords  int                `json:"raw_records"`
	Workload    string             `json:"workload"`
	DrainAfter  string             `json:"drained_after_workload"`
	MaxLag      map[string]int64   `json:"max_lag_during_workload"`
	LagAtEnd    map[string]int64   `json:"lag_when_workload_ended"`
	LagSeries   []lagSample        `json:"lag_series"`
	CPU         map[string]float64 `json:"cpu_seconds"`
	CPUPerSub   float64            `json:"cpu_ms_per_submission"`
	Utilisation float64            `json:"machine_utilisation"`
}

// lagSample is the summed lag of the enrich group and of the sink groups
// at one moment of the workload.
type lagSample struct {
	At     float64 `json:"s"`
	Enrich int64   `json:"enrich"`
	Sinks  int64   `json:"sinks_max"`
}

// loadSampler samples every group's lag while the workload runs.
type loadSampler struct {
	mu       sync.Mutex
	start    time.Time
	maxLag   map[string]int64
	lastLag  map[string]int64
	series   []lagSample
	stopped  bool
	cpuStart map[string]float64
}

func newLoadSampler(f *fleet, start time.Time) *loadSampler {
	return &loadSampler{start: start, maxLag: map[string]int64{}, cpuStart: f.cpuByRole()}
}

// sample records one lag reading, until stop.
func (s *loadSampler) sample(f *fleet) {
	lag, err := f.status()
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	ls := lagSample{At: time.Since(s.start).Seconds()}
	for g, v := range lag {
		s.maxLag[g] = max(s.maxLag[g], v)
		if strings.HasPrefix(g, "logweave-sink-") {
			ls.Sinks = max(ls.Sinks, v)
		} else {
			ls.Enrich += v
		}
	}
	s.lastLag = lag
	s.series = append(s.series, ls)
}

// stop freezes the lag figures (the workload ended).
func (s *loadSampler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}

// result computes the figures once the pipeline drained at drained,
// with cpuEnd the CPU by role read then.
func (s *loadSampler) result(f *fleet, genEnd, drained time.Time, cpuEnd map[string]float64, gen *proc, submissions, raw int) *loadFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &loadFigures{Rate: f.o.rate, GenSummary: lastLine(gen.tail(3)), RawRecords: raw,
		Workload: genEnd.Sub(s.start).Round(100 * time.Millisecond).String(), MaxLag: s.maxLag, LagAtEnd: s.lastLag,
		LagSeries: s.series, CPU: map[string]float64{}}
	if !drained.IsZero() {
		l.DrainAfter = drained.Sub(genEnd).Round(100 * time.Millisecond).String()
	} else {
		drained = time.Now()
	}
	total := 0.0
	for role, v := range cpuEnd {
		d := v - s.cpuStart[role]
		l.CPU[role] = round2(d)
		total += d
	}
	l.CPU["total"] = round2(total)
	if submissions > 0 {
		l.CPUPerSub = round2(total * 1000 / float64(submissions))
	}
	l.Utilisation = round2(total / (drained.Sub(s.start).Seconds() * float64(runtime.NumCPU())))
	return l
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// cpuByRole sums the CPU seconds used so far by role: each logweave role,
// the destinations (Loki, esfake), gen, and this harness (the fault
// proxies, the file tailer and status polls).
func (f *fleet) cpuByRole() map[string]float64 {
	m := map[string]float64{}
	add := func(role string, p *proc) {
		if p != nil {
			m[role] += p.cpu()
		}
	}
	add("broker", f.broker)
	for _, p := range f.ingest {
		add("ingest", p)
	}
	for _, p := range f.enrich {
		add("enrich", p)
	}
	for name, ps := range f.sinks {
		for _, p := range ps {
			add("sink-"+name, p)
		}
	}
	add("esfake", f.esfake)
	add("gen", f.gen)
	if f.loki != nil {
		m["loki"] = f.loki.CPU()
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		m["harness"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return m
}

func (l *loadFigures) print(w io.Writer) {
	fmt.Fprintf(w, "load: %.0f submissions/s asked (%s); %d raw records; workload %s, drained %s after it\n",
		l.Rate, l.GenSummary, l.RawRecords, l.Workload, l.DrainAfter)
	fmt.Fprintf(w, "  max lag during the workload: %v; when it ended: %v\n", l.MaxLag, l.LagAtEnd)
	roles := make([]string, 0, len(l.CPU))
	for r := range l.CPU {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var parts []string
	for _, r := range roles {
		parts = append(parts, fmt.Sprintf("%s %.1f", r, l.CPU[r]))
	}
	fmt.Fprintf(w, "  CPU seconds: %s; %.1f ms per submission; machine %.0f%% busy\n", strings.Join(parts, ", "), l.CPUPerSub, l.Utilisation*100)
}
