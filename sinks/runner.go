package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/bounded"
	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/router"
)

// Deps are the process-wide things a Runner uses.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// ClientOpts are added to the runner's group client only (not to the
	// leaver's): e.g. its kprom metrics hook, which belongs to one client.
	ClientOpts []kgo.Opt
}

// Topics names what a runner reads and where it dead-letters.
type Topics struct {
	Enriched string
	DLQ      string
}

// Runner is one member of a sink's consumer group.
type Runner struct {
	cfg    Config
	sink   Sink
	router *router.Router
	topics Topics
	cl     *kgo.Client
	logger *slog.Logger
	m      *metrics

	// committer commits without waiting for a rebalance in flight and
	// leaver leaves the group without waiting for one: see internal/kafka.
	committer *kafka.Committer
	leaver    *kafka.Leaver

	mu      sync.Mutex // guards workers
	workers map[int32]*worker
	wg      sync.WaitGroup

	// commitMu serializes commits with ownership changes: a worker's
	// commit checks w.owned under it, and revoke/lost clear w.owned under
	// it, so no commit for a partition starts after this member gave the
	// partition up.
	commitMu sync.Mutex

	fatalOnce sync.Once
	fatal     chan error

	// shutdownGrace bounds finishing in-flight batches on revoke or stop.
	shutdownGrace time.Duration

	// ready is closed once cl is set: franz-go may call the rebalance
	// callbacks before NewClient returns to New.
	ready chan struct{}

	// onCommit, when set (tests), sees every successful commit.
	onCommit func(p int32, offset int64)

	// until, when set (SetUntil), bounds the run: records at or after a
	// partition's end are not delivered, and Done closes once every
	// partition's committed position reached its end (see package
	// internal/bounded). reached holds this member's committed positions,
	// guarded by commitMu.
	until     bounded.Ends
	reached   map[int32]int64
	untilDone chan struct{}
	untilOnce sync.Once
}

// SetUntil bounds the run to the offsets before until (per partition of the
// enriched topic), starting from the committed offsets from: a replay. A
// partition is done only when this member committed a position at its end;
// transaction markers move positions (the runner reads control records), so
// a window ending in a marker finishes exactly. Silence never finishes a
// partition: one paused while its destination retries receives nothing for
// as long as the outage lasts. Call before Run.
func (r *Runner) SetUntil(from, until map[int32]int64) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	r.until = bounded.Ends(until)
	r.untilDone = make(chan struct{})
	for p, off := range from {
		r.reached[p] = off
	}
	r.checkUntilLocked()
}

// Done is closed when a bounded run has committed everything up to its
// bounds; nil for an unbounded runner.
func (r *Runner) Done() <-chan struct{} { return r.untilDone }

// Remaining is the number of offsets of a bounded run's window (transaction
// markers included) that this member has not committed yet; 0 for an
// unbounded runner.
func (r *Runner) Remaining() int64 {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	if r.until == nil {
		return 0
	}
	return r.until.Remaining(r.reached)
}

// checkUntilLocked closes Done once every bounded partition is committed
// up to its bound. Called with commitMu held.
func (r *Runner) checkUntilLocked() {
	if r.until != nil && r.until.Done(r.reached) {
		r.untilOnce.Do(func() { close(r.untilDone) })
	}
}

// bound is where a partition's window ends in a bounded run: -1 when the
// run is unbounded, 0 for a partition that is not in the window (created
// after the run was planned).
func (r *Runner) bound(p int32) int64 {
	if r.until == nil {
		return -1
	}
	return r.until[p]
}

// New creates a runner and its Kafka client. base are the shared client
// options (brokers, TLS, SASL); the runner adds its group settings.
// shutdownGrace bounds how long in-flight writes may finish when partitions
// are revoked or the runner stops.
func New(cfg Config, sink Sink, rt *router.Router, topics Topics, base []kgo.Opt, shutdownGrace time.Duration, deps Deps) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg: cfg, sink: sink, router: rt, topics: topics,
		logger: deps.Logger.With("sink", cfg.Name), m: newMetrics(deps.Registerer, cfg.Name),
		workers: make(map[int32]*worker), fatal: make(chan error, 1), shutdownGrace: shutdownGrace, reached: map[int32]int64{},
		ready: make(chan struct{}),
	}
	start, _ := cfg.StartTime()
	reset := kgo.NewOffset().AtStart()
	switch {
	case start.Equal(latestTime):
		reset = kgo.NewOffset().AtEnd()
	case !start.IsZero():
		reset = kgo.NewOffset().AfterMilli(start.UnixMilli())
	}
	r.leaver = kafka.NewLeaver(base, cfg.Group())
	opts := append([]kgo.Opt{}, base...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group()),
		// Run's stop cancels the client's context to leave without
		// waiting for a rebalance in flight.
		r.leaver.Opt(),
		kgo.ConsumeTopics(topics.Enriched),
		// The enricher writes in transactions; aborted records must never
		// reach a destination.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are returned so that they move the committed
		// position (never delivered; see bounded.Split): a caught-up group
		// commits past the last marker, so its lag is 0, and a bounded run
		// reaches end offsets that sit after a marker.
		kgo.KeepControlRecords(),
		// Offsets are committed by the workers, only after durable writes.
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(reset),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		// DLQ records: every reject must be durable before we advance.
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	opts = append(opts, deps.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	r.cl = cl
	r.committer = kafka.NewCommitter(cl, cfg.Group())
	close(r.ready)
	return r, nil
}

// Client exposes the runner's Kafka client (for readiness checks).
func (r *Runner) Client() *kgo.Client { return r.cl }

// Run consumes until ctx is done or the sink fails fatally. On the way out
// it stops fetching, lets in-flight batches finish within the shutdown
// grace, commits what was delivered, leaves the group and closes the sink.
func (r *Runner) Run(ctx context.Context) error {
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	// The fatal watcher stops polling when a worker fails the sink. Run
	// owns it: it ends with polling and is joined before Run goes on, so
	// nothing of the runner outlives Run.
	var (
		fatal   error
		watcher sync.WaitGroup
	)
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case fatal = <-r.fatal:
			stopPolling()
		case <-pollCtx.Done():
		}
	}()
	for {
		fs := r.cl.PollRecords(pollCtx, 10000)
		if fs.IsClientClosed() || pollCtx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.logger.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachPartition(r.handOver)
	}
	stopPolling()
	watcher.Wait()
	// Stop fetching, finish or abandon in-flight batches, commit, leave.
	// None of it waits for a rebalance in flight (a dead member holds one
	// up for its whole session): commits go out under the current
	// generation and the leave cuts the rebalance short for this member.
	r.stopAll(true)
	lctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	if err := r.leaver.Leave(lctx, r.cl); err != nil {
		r.logger.Warn("leaving the group failed; its partitions move when this member's session times out", "err", err)
	}
	cancel()
	r.stopAll(false) // assigned after the first stopAll: nothing of theirs was delivered
	r.wg.Wait()
	if err := r.sink.Close(); err != nil {
		r.logger.Warn("closing sink", "err", err)
	}
	select {
	case fatal = <-r.fatal:
	default:
	}
	if fatal != nil {
		return fatal
	}
	return nil
}

// handOver gives a fetched partition's records to its worker: the data
// records of the window, and the position the fetch reached (transaction
// markers and, in bounded runs, the window's end included).
func (r *Runner) handOver(ftp kgo.FetchTopicPartition) {
	if len(ftp.Records) == 0 {
		return
	}
	r.mu.Lock()
	w := r.workers[ftp.Partition]
	r.mu.Unlock()
	if w == nil {
		return // revoked after the fetch: the new owner reads it
	}
	end := r.bound(ftp.Partition)
	recs, pos := bounded.Split(ftp.Records, end)
	if end >= 0 && pos >= end {
		w.reachedEnd() // nothing past the bound is needed
	}
	// Lag is measured against what read_committed can read: the last
	// stable offset (the high watermark unless a transaction is open).
	readable := ftp.LastStableOffset
	if readable < 0 {
		readable = ftp.HighWatermark
	}
	last := ftp.Records[len(ftp.Records)-1]
	if w.enqueue(recs, pos, last.LeaderEpoch, readable) > r.cfg.MaxQueuedRecords {
		w.pause()
	}
}

// leaveTimeout bounds the LeaveGroup request at stop.
const leaveTimeout = 5 * time.Second

func (r *Runner) fail(err error) {
	r.fatalOnce.Do(func() { r.fatal <- err })
}

// assigned starts a worker per new partition.
func (r *Runner) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	<-r.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range assigned[r.topics.Enriched] {
		if r.workers[p] != nil {
			continue
		}
		w := newWorker(r, p)
		r.workers[p] = w
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			w.run()
		}()
		r.logger.Info("partition assigned", "partition", p)
	}
}

// revoked stops the revoked partitions' workers, letting their in-flight
// batch finish within the grace, and commits what they delivered. The
// partitions are still ours while this callback runs.
func (r *Runner) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	<-r.ready
	r.stop(revoked[r.topics.Enriched], true)
}

// lost drops the workers without committing: the partitions may already be
// someone else's.
func (r *Runner) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	<-r.ready
	r.stop(lost[r.topics.Enriched], false)
}

func (r *Runner) stopAll(graceful bool) {
	r.mu.Lock()
	var ps []int32
	for p := range r.workers {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	r.stop(ps, graceful)
}

// stop ends the given partitions' workers. Graceful: finish the current
// batch within the shutdown grace, then commit. Otherwise: abandon at once,
// and never commit again.
func (r *Runner) stop(ps []int32, graceful bool) {
	var ws []*worker
	r.mu.Lock()
	for _, p := range ps {
		if w := r.workers[p]; w != nil {
			ws = append(ws, w)
			delete(r.workers, p)
		}
	}
	r.mu.Unlock()
	if !graceful {
		r.commitMu.Lock()
		for _, w := range ws {
			w.owned = false
		}
		r.commitMu.Unlock()
	}
	for _, w := range ws {
		w.stop(graceful, r.shutdownGrace)
	}
	for _, w := range ws {
		<-w.done
		if rel, ok := r.sink.(PartitionReleaser); ok {
			if err := rel.ReleasePartition(w.p); err != nil {
				r.logger.Warn("releasing partition in the sink", "partition", w.p, "err", err)
			}
		}
		if graceful {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.commit(ctx, w); err != nil {
				r.logger.Warn("final commit failed; the next owner redelivers from the last commit", "partition", w.p, "err", err)
			}
			cancel()
			r.commitMu.Lock()
			w.owned = false
			r.commitMu.Unlock()
		}
		w.release()
		r.m.forget(w.p)
		r.logger.Info("partition released", "partition", w.p, "graceful", graceful, "committed", w.committed)
	}
}

// commit commits w's watermark if it advanced and w still owns its
// partition.
func (r *Runner) commit(ctx context.Context, w *worker) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	if !w.owned {
		return nil
	}
	off, epoch, end := w.progress()
	if off <= w.committed {
		return nil
	}
	// Not CommitOffsetsSync: it waits for a join in flight, which a dead
	// member stretches to its session timeout.
	cerr := r.committer.Commit(ctx, map[string]map[int32]kgo.EpochOffset{r.topics.Enriched: {w.p: {Epoch: epoch, Offset: off}}})
	if cerr != nil {
		r.m.commitErrors.Inc()
		return cerr
	}
	w.committed = off
	r.m.setCommitted(w.p, off, end)
	if r.onCommit != nil {
		r.onCommit(w.p, off)
	}
	if r.until != nil {
		r.reached[w.p] = off
		r.checkUntilLocked()
	}
	return nil
}
