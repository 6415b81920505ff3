// Package replay runs bounded backfills: a sink's destination fed from a
// time window of logweave.enriched by a consumer group of its own, so the
// live sinks' groups never move. The window's end offsets are captured when
// the job first starts and stored as the committed offsets of a plan group,
// so a job killed mid-way and started again resumes where it committed and
// stops at the same end.
package replay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
)

// Groups returns the job's consumer group and its plan group.
func Groups(job string) (group, plan string) {
	return "logweave-replay-" + job, "logweave-replay-" + job + "-plan"
}

// Plan is a job's window: per partition, where the job stands and where it
// stops.
type Plan struct {
	Start   map[int32]int64
	End     map[int32]int64
	Resumed bool
}

// Total is the number of offsets left in the window.
func (p Plan) Total() int64 {
	var n int64
	for part, end := range p.End {
		if end > p.Start[part] {
			n += end - p.Start[part]
		}
	}
	return n
}

// Prepare loads a job's plan, or creates it: start offsets at from (the
// first record at or after it; zero time: the earliest), end offsets at to
// (zero: the end offsets now).
func Prepare(ctx context.Context, adm *kadm.Client, job, topic string, from, to time.Time) (Plan, error) {
	group, planGroup := Groups(job)
	plan := Plan{Start: map[int32]int64{}, End: map[int32]int64{}}
	existing, err := adm.FetchOffsets(ctx, planGroup)
	if err == nil && len(existing) > 0 {
		existing.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.Err == nil {
				plan.End[o.Partition] = o.At
			}
		})
	}
	if len(plan.End) > 0 {
		cur, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return plan, fmt.Errorf("fetching the progress of %s: %w", group, err)
		}
		for p := range plan.End {
			if o, ok := cur.Lookup(topic, p); ok && o.Err == nil && o.At >= 0 {
				plan.Start[p] = o.At
			}
		}
		plan.Resumed = true
		return plan, nil
	}
	starts, err := listAt(ctx, adm, topic, from, true)
	if err != nil {
		return plan, err
	}
	ends, err := listAt(ctx, adm, topic, to, false)
	if err != nil {
		return plan, err
	}
	startOffs, endOffs := make(kadm.Offsets), make(kadm.Offsets)
	for p, off := range ends {
		plan.End[p] = off
		plan.Start[p] = min(starts[p], off)
		endOffs.Add(kadm.Offset{Topic: topic, Partition: p, At: off, LeaderEpoch: -1})
		startOffs.Add(kadm.Offset{Topic: topic, Partition: p, At: plan.Start[p], LeaderEpoch: -1})
	}
	// Start before end: a crash between the two leaves no plan, and the
	// next run plans again from scratch.
	if r, err := adm.CommitOffsets(ctx, group, startOffs); err != nil || r.Error() != nil {
		return plan, fmt.Errorf("committing the start of %s: %v %v", group, err, r.Error())
	}
	if r, err := adm.CommitOffsets(ctx, planGroup, endOffs); err != nil || r.Error() != nil {
		return plan, fmt.Errorf("committing the plan of %s: %v %v", group, err, r.Error())
	}
	return plan, nil
}

func listAt(ctx context.Context, adm *kadm.Client, topic string, t time.Time, start bool) (map[int32]int64, error) {
	var (
		l   kadm.ListedOffsets
		err error
	)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	switch {
	case t.IsZero() && start:
		l, err = adm.ListStartOffsets(ctx, topic)
	case t.IsZero():
		l = ends
	default:
		l, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	l.Each(func(o kadm.ListedOffset) {
		// A time after the last record lists -1 on some brokers: the end.
		if o.Offset >= 0 && o.Offset < out[o.Partition] {
			out[o.Partition] = o.Offset
		}
	})
	return out, nil
}

// Options configure a run.
type Options struct {
	Job    string
	Sink   sinks.Config // runtime settings of the sink replayed into
	Dest   sinks.Sink
	Router *router.Router
	Topics sinks.Topics
	Base   []kgo.Opt
	From   time.Time
	To     time.Time
	// Progress receives progress lines (a bar when it is a terminal).
	Progress io.Writer
	Every    time.Duration
	// Registry receives the metrics of the job's sink runtime (and, for a
	// raw replay, its enricher). Default: a registry of its own. The report
	// is made from the runtime's Stats, never read back from it.
	Registry prometheus.Registerer
	// Logger receives the logs of the job's sink runtime and enricher.
	// Default: none (a discard handler).
	Logger *slog.Logger
	// Grace bounds finishing in-flight writes when interrupted. Default 5s.
	Grace time.Duration
}

// Report is what a finished run did.
type Report struct {
	Job     string
	Resumed bool
	Window  int64 // offsets in the window when this run started
	// Done is how many of the window's offsets this run committed,
	// transaction markers included: Window when the job finished.
	Done         int64
	Delivered    int64
	Skipped      int64
	DeadLettered int64
	Duplicates   int64 // of Delivered, records the destination already held (Elasticsearch 409 on own id)
	Elapsed      time.Duration
}

func (r Report) String() string {
	return fmt.Sprintf("replay %s done in %s (resumed: %v): %d of %d offsets in the window (%.1f%%); delivered %d (duplicates absorbed %d), skipped by routes %d, dead-lettered %d",
		r.Job, r.Elapsed.Round(time.Millisecond), r.Resumed, r.Done, r.Window, percent(r.Done, r.Window), r.Delivered, r.Duplicates, r.Skipped, r.DeadLettered)
}

// percent is done of total in percent; an empty window is complete.
func percent(done, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return min(100, 100*float64(done)/float64(total))
}

// Run plans (or resumes) the job and runs it to the end of its window.
func Run(ctx context.Context, o Options) (Report, error) {
	start := time.Now()
	group, _ := Groups(o.Job)
	cfg := o.Sink
	cfg.GroupName = group
	admCl, err := kgo.NewClient(o.Base...)
	if err != nil {
		return Report{}, err
	}
	defer admCl.Close()
	plan, err := Prepare(ctx, kadm.NewClient(admCl), o.Job, o.Topics.Enriched, o.From, o.To)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Job: o.Job, Resumed: plan.Resumed, Window: plan.Total()}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	grace := o.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	r, err := sinks.New(cfg, o.Dest, o.Router, o.Topics, o.Base, grace, sinks.Deps{Logger: logger.With("replay", o.Job), Registerer: reg})
	if err != nil {
		return rep, err
	}
	r.SetUntil(plan.Start, plan.End)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	every := o.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	// Progress counts committed offsets, not records: the window's offsets
	// include transaction markers, which are never records.
	progress := func() {
		rep.Done = rep.Window - r.Remaining()
		if o.Progress != nil {
			writeProgress(o.Progress, o.Job, rep.Done, rep.Window, time.Since(start))
		}
	}
loop:
	for {
		select {
		case <-r.Done():
			cancel()
			err = <-done
			break loop
		case err = <-done:
			break loop
		case <-tick.C:
			progress()
		}
	}
	progress()
	st := r.Stats()
	rep.Delivered, rep.Skipped, rep.DeadLettered, rep.Duplicates = st.Delivered, st.Skipped, st.DeadLettered, st.Duplicates
	rep.Elapsed = time.Since(start)
	if err != nil {
		return rep, err
	}
	if ctx.Err() != nil {
		return rep, fmt.Errorf("replay %s interrupted; run it again to resume: %w", o.Job, ctx.Err())
	}
	return rep, nil
}

// writeProgress prints a bar on a terminal, a plain line otherwise. done and
// total count offsets of the window (records and transaction markers).
func writeProgress(w io.Writer, job string, done, total int64, elapsed time.Duration) {
	rate := float64(done) / elapsed.Seconds()
	eta := "?"
	if rate > 0 && total >= done {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := percent(done, total)
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		const width = 30
		n := int(pct / 100 * width)
		fmt.Fprintf(w, "\r%s [%s%s] %5.1f%% %d/%d %.0f/s ETA %s ", job, strings.Repeat("#", n), strings.Repeat(".", width-n), pct, done, total, rate, eta)
		return
	}
	fmt.Fprintf(w, "replay %s: %d of %d offsets (%.1f%%), %.0f offsets/s, ETA %s\n", job, done, total, pct, rate, eta)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
