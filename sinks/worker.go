package sinks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// worker owns one partition: it batches the partition's records, writes
// them through the sink, and advances the partition's watermark only past
// records that are delivered or dead-lettered. Batches are handled one at a
// time, completely, so the watermark is always contiguous.
type worker struct {
	r *Runner
	p int32

	mu         sync.Mutex // guards the fields down to readable
	queue      []*kgo.Record
	queueBytes int
	firstAt    time.Time // when the oldest queued record arrived
	paused     bool
	atEnd      bool  // a bounded run fetched to its end: stay paused
	next       int64 // offset to commit: everything before it is done
	epoch      int32
	// fetched is the position after everything handed to the worker
	// (transaction markers and a bounded run's end included; -1: none);
	// once the queue is empty and no batch is in flight, next may move
	// up to it.
	fetched      int64
	fetchedEpoch int32
	readable     int64 // last stable offset seen in a fetch, for the lag metric

	committed int64 // guarded by r.commitMu
	owned     bool  // guarded by r.commitMu

	notify   chan struct{}
	stopCh   chan struct{}
	stopOnce sync.Once
	// ctx is canceled to abandon in-flight work.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// slots hold the decoded records of the batch being processed, reused
	// by the next one (only the worker's goroutine touches them).
	slots []decodeSlot
	route router.Scratch
}

func newWorker(r *Runner, p int32) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{r: r, p: p, next: -1, fetched: -1, committed: -1, owned: true, notify: make(chan struct{}, 1),
		stopCh: make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// enqueue adds fetched data records, and the position the fetch reached
// (pos, with the leader epoch of its last record), and returns the queue
// length. recs may be empty: a fetch of transaction markers only still
// moves the position.
func (w *worker) enqueue(recs []*kgo.Record, pos int64, epoch int32, readable int64) int {
	w.mu.Lock()
	if len(w.queue) == 0 && len(recs) > 0 {
		w.firstAt = time.Now()
	}
	w.queue = append(w.queue, recs...)
	for _, r := range recs {
		w.queueBytes += len(r.Value)
	}
	if pos > w.fetched {
		w.fetched, w.fetchedEpoch = pos, epoch
	}
	w.readable = readable
	n := len(w.queue)
	w.mu.Unlock()
	w.r.m.inFlight.Add(float64(len(recs)))
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return n
}

// progress is what a commit needs: the offset to commit, its leader epoch,
// and the readable end for the lag metric.
func (w *worker) progress() (next int64, epoch int32, readable int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next, w.epoch, w.readable
}

// advanceLocked moves next past what was handed over once nothing of it is
// queued; the caller has no batch in flight. Called with w.mu held.
func (w *worker) advanceLocked() {
	if len(w.queue) == 0 && w.fetched > w.next {
		w.next, w.epoch = w.fetched, w.fetchedEpoch
	}
}

// stop asks the worker to finish. Graceful: the current batch, and what is
// queued, may complete within grace; otherwise everything is abandoned now.
func (w *worker) stop(graceful bool, grace time.Duration) {
	w.stopOnce.Do(func() {
		close(w.stopCh)
		if !graceful {
			w.cancel()
			return
		}
		time.AfterFunc(grace, w.cancel)
	})
}

// release undoes what the worker did to the shared client: a paused
// partition must not stay paused if it is assigned to us again.
func (w *worker) release() {
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused {
		w.r.cl.ResumeFetchPartitions(map[string][]int32{w.r.topics.Enriched: {w.p}})
		w.paused = false
		w.r.m.paused.Dec()
	}
	w.r.m.inFlight.Sub(float64(len(w.queue)))
	w.queue = nil
}

func (w *worker) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.paused {
		w.r.cl.PauseFetchPartitions(map[string][]int32{w.r.topics.Enriched: {w.p}})
		w.paused = true
		w.r.m.paused.Inc()
	}
}

// reachedEnd pauses a bounded partition for good: its fetches reached the
// end of the window.
func (w *worker) reachedEnd() {
	w.mu.Lock()
	w.atEnd = true
	w.mu.Unlock()
	w.pause()
}

func (w *worker) maybeResume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused && !w.atEnd && len(w.queue) <= w.r.cfg.MaxQueuedRecords/2 {
		w.r.cl.ResumeFetchPartitions(map[string][]int32{w.r.topics.Enriched: {w.p}})
		w.paused = false
		w.r.m.paused.Dec()
	}
}

func (w *worker) run() {
	defer close(w.done)
	tick := time.NewTicker(w.r.cfg.CommitInterval)
	defer tick.Stop()
	lastCommit := time.Now()
	for {
		batch, ok := w.nextBatch(tick.C, &lastCommit)
		if !ok {
			return
		}
		if !w.process(batch) {
			w.r.m.inFlight.Sub(float64(len(batch)))
			return
		}
		last := batch[len(batch)-1]
		w.mu.Lock()
		w.next, w.epoch = last.Offset+1, last.LeaderEpoch
		w.advanceLocked()
		w.mu.Unlock()
		w.r.m.inFlight.Sub(float64(len(batch)))
		if time.Since(lastCommit) >= w.r.cfg.CommitInterval {
			w.commitNow(&lastCommit)
		}
		w.maybeResume()
	}
}

func (w *worker) commitNow(last *time.Time) {
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if err := w.r.commit(ctx, w); err != nil && w.ctx.Err() == nil {
		w.r.logger.Warn("commit failed; retrying at the next commit", "partition", w.p, "err", err)
	}
	*last = time.Now()
}

// nextBatch waits for a batch: max records or bytes reached, or the oldest
// queued record lingered long enough, or the worker is stopping (then what
// is queued goes out). It commits on the ticker while idle. It returns
// false when the worker should exit.
func (w *worker) nextBatch(tick <-chan time.Time, lastCommit *time.Time) ([]*kgo.Record, bool) {
	cfg := w.r.cfg.Batch
	for {
		stopping := false
		select {
		case <-w.stopCh:
			stopping = true
		default:
		}
		if w.ctx.Err() != nil {
			return nil, false
		}
		w.mu.Lock()
		w.advanceLocked()
		n := len(w.queue)
		wait := cfg.Linger - time.Since(w.firstAt)
		if n > 0 && (n >= cfg.MaxRecords || w.queueBytes >= cfg.MaxBytes || wait <= 0 || stopping) {
			batch := w.takeLocked()
			w.mu.Unlock()
			return batch, true
		}
		w.mu.Unlock()
		if stopping {
			return nil, false
		}
		var (
			linger <-chan time.Time
			timer  *time.Timer
		)
		if n > 0 {
			timer = time.NewTimer(wait)
			linger = timer.C
		}
		select {
		case <-w.notify:
		case <-linger:
		case <-w.stopCh:
		case <-w.ctx.Done():
		case <-tick:
			w.commitNow(lastCommit)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// takeLocked removes up to one batch from the queue: batch.max_records
// and batch.max_bytes, or for a BacklogWriter up to backlogBatches times
// batch.max_records.
func (w *worker) takeLocked() []*kgo.Record {
	cfg := w.r.cfg.Batch
	limit := cfg.MaxRecords
	if b, ok := w.r.sink.(BacklogWriter); ok && b.WritesBacklog() {
		limit = backlogBatches * cfg.MaxRecords
	}
	n, bytes := 0, 0
	for n < len(w.queue) && n < limit {
		if n > 0 && bytes+len(w.queue[n].Value) > cfg.MaxBytes {
			break
		}
		bytes += len(w.queue[n].Value)
		n++
	}
	batch := w.queue[:n:n]
	w.queue = w.queue[n:]
	w.queueBytes -= bytes
	if len(w.queue) > 0 {
		w.firstAt = time.Now()
	}
	return batch
}

// backlogBatches bounds a BacklogWriter's write, in batches: the whole
// write is decoded and held at once (about 5 KB per record in the file
// sink), so taking the whole queue (up to max_queued_records, 10000 by
// default) raised the bench's file sink from 136 to 340 MiB of peak RSS
// for 17 fsyncs instead of 297; four batches take most of the fsyncs away
// for a fraction of that memory.
const backlogBatches = 4

// deadLetter is a record bound for the DLQ.
type deadLetter struct {
	kr     *kgo.Record
	id     string
	reason string
	err    error
}

// process writes a batch until every record is delivered, skipped or
// dead-lettered. It returns false if it had to give up (abandoned, or the
// sink failed fatally): then nothing of the batch may be committed.
func (w *worker) process(batch []*kgo.Record) bool {
	r := w.r
	var (
		pending []*Record
		dead    []deadLetter
		skipped int
	)
	need := router.NeedAll
	if n, ok := r.sink.(DestinationNeeder); ok {
		need = n.DestinationNeeds()
	}
	// The batch's records are decoded into the worker's slots, reused from
	// batch to batch with their nested messages (decodeSlot), and the
	// Records are one allocation per batch.
	if len(w.slots) < len(batch) {
		w.slots = make([]decodeSlot, len(batch))
	}
	records := make([]Record, len(batch))
	for i, kr := range batch {
		// Zero-copy: rec's strings and bytes point into kr.Value, which
		// the Record holds anyway (Record.Enriched says what a sink must
		// clone to keep).
		rec, err := w.slots[i].decode(kr.Value)
		if err != nil {
			dead = append(dead, deadLetter{kr: kr, reason: "decode", err: fmt.Errorf("decoding enriched record: %w", err)})
			continue
		}
		dest, ok := r.router.RouteScratch(&w.route, r.cfg.Name, need, rec)
		if !ok {
			skipped++
			continue
		}
		sr := &records[i]
		*sr = Record{Enriched: rec, Dest: dest, Value: kr.Value, Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset}
		if testSkipWrite(sr) {
			continue // only in chaos-tagged test builds: see testfault_chaos.go
		}
		pending = append(pending, sr)
	}
	r.m.addRecords(outcomeSkipped, skipped)

	backoff := r.cfg.Retry.InitialBackoff
	var retryingSince time.Time
	for attempt := 0; len(pending) > 0; attempt++ {
		start := time.Now()
		results, err := r.sink.Write(w.ctx, pending)
		r.m.observeWrite(time.Since(start), len(pending))
		if err != nil {
			r.fail(fmt.Errorf("sink %s: %w", r.cfg.Name, err))
			return false
		}
		if len(results) != len(pending) {
			r.fail(fmt.Errorf("sink %s: Write returned %d results for %d records", r.cfg.Name, len(results), len(pending)))
			return false
		}
		var (
			retry                 []*Record
			lastErr               error
			reason                string
			delivered, duplicates int
		)
		for i, res := range results {
			switch res.Outcome {
			case Delivered:
				delivered++
				if res.Reason == ReasonDuplicate {
					duplicates++
				}
			case Reject:
				dead = append(dead, deadLetter{kr: batchRecord(batch, pending[i].Offset), id: pending[i].Enriched.GetRecordId(), reason: res.Reason, err: res.Err})
			default:
				retry = append(retry, pending[i])
				lastErr, reason = res.Err, res.Reason
			}
		}
		// Counted once per write, not per record (a labelled counter's
		// lookup per record was the runtime's largest metrics cost).
		r.m.addRecords(outcomeDelivered, delivered)
		r.m.counts.duplicates.Add(int64(duplicates))
		if len(retry) == 0 {
			break
		}
		if w.ctx.Err() != nil {
			return false
		}
		if retryingSince.IsZero() {
			retryingSince = time.Now()
			// Retrying: stop fetching this partition instead of buffering.
			w.pause()
		}
		if max := r.cfg.Retry.MaxElapsed; max > 0 && time.Since(retryingSince) >= max {
			for _, rec := range retry {
				dead = append(dead, deadLetter{kr: batchRecord(batch, rec.Offset), id: rec.Enriched.GetRecordId(), reason: "retries_exhausted",
					err: fmt.Errorf("still failing after %s: %v", max, lastErr)})
			}
			break
		}
		r.m.addRecords(outcomeRetried, len(retry))
		if attempt == 0 || attempt%10 == 0 {
			r.logger.Warn("write failed transiently; retrying", "partition", w.p, "records", len(retry), "reason", reason, "attempt", attempt+1, "err", lastErr)
		}
		if !sleep(w.ctx, jitter(backoff)) {
			return false
		}
		backoff = min(backoff*2, r.cfg.Retry.MaxBackoff)
		pending = retry
	}
	if len(dead) > 0 {
		return w.deadLetter(dead)
	}
	return true
}

// batchRecord finds the Kafka record at offset in a batch (batches are in
// offset order).
func batchRecord(batch []*kgo.Record, offset int64) *kgo.Record {
	lo, hi := 0, len(batch)
	for lo < hi {
		m := (lo + hi) / 2
		if batch[m].Offset < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return batch[lo]
}

// DLQ headers: the record vocabulary's (schemas/logweave/v1), shared with
// enrich's dead letters.
const (
	HeaderSink            = v1.HeaderDLQSink
	HeaderReason          = v1.HeaderDLQReason
	HeaderError           = v1.HeaderDLQError
	HeaderSourceTopic     = v1.HeaderDLQSourceTopic
	HeaderSourcePartition = v1.HeaderDLQSourcePartition
	HeaderSourceOffset    = v1.HeaderDLQSourceOffset
	HeaderRecordID        = v1.HeaderDLQRecordID
)

// deadLetter writes records to the DLQ, retrying failed produces with
// backoff until they succeed or the worker is abandoned. Only after every
// record is in the DLQ may the partition advance.
func (w *worker) deadLetter(dead []deadLetter) bool {
	r := w.r
	recs := make([]*kgo.Record, len(dead))
	for i, d := range dead {
		msg := "unknown error"
		if d.err != nil {
			msg = d.err.Error()
		}
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
		recs[i] = &kgo.Record{
			Topic: r.topics.DLQ, Key: []byte(d.id), Value: d.kr.Value,
			Headers: []kgo.RecordHeader{
				{Key: HeaderSink, Value: []byte(r.cfg.Name)},
				{Key: HeaderReason, Value: []byte(d.reason)},
				{Key: HeaderError, Value: []byte(msg)},
				{Key: HeaderSourceTopic, Value: []byte(d.kr.Topic)},
				{Key: HeaderSourcePartition, Value: fmt.Appendf(nil, "%d", d.kr.Partition)},
				{Key: HeaderSourceOffset, Value: fmt.Appendf(nil, "%d", d.kr.Offset)},
				{Key: HeaderRecordID, Value: []byte(d.id)},
			},
		}
	}
	backoff := r.cfg.Retry.InitialBackoff
	for {
		results := r.cl.ProduceSync(w.ctx, recs...)
		var failed []*kgo.Record
		var firstErr error
		for i, res := range results {
			if res.Err != nil {
				failed = append(failed, recs[i])
				if firstErr == nil {
					firstErr = res.Err
				}
				continue
			}
			r.m.addRecords(outcomeDeadLettered, 1)
			r.m.deadLettered.WithLabelValues(dead[i].reason).Inc()
		}
		if len(failed) == 0 {
			return true
		}
		r.m.dlqFailures.Add(float64(len(failed)))
		if w.ctx.Err() != nil {
			return false
		}
		r.logger.Error("writing to the DLQ failed; the partition waits until it succeeds", "partition", w.p, "records", len(failed), "err", firstErr)
		if !sleep(w.ctx, jitter(backoff)) {
			return false
		}
		backoff = min(backoff*2, r.cfg.Retry.MaxBackoff)
		// Keep the reasons aligned with the records still to write.
		var still []deadLetter
		for i, res := range results {
			if res.Err != nil {
				still = append(still, dead[i])
			}
		}
		recs, dead = failed, still
	}
}

// jitter spreads a backoff over [d/2, d*3/2).
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
