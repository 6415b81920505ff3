package enrich

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/internal/kafka"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// flush writes the decided records and commits every partition's
// watermark, atomically, and says whether it committed. It runs under its
// own deadline (transaction_timeout), never the run context: an
// interrupted EndTransaction leaves it unknown whether the records are out.
// Without records to write it commits the offsets alone (a failure there
// changes nothing and is retried at the next flush).
//
// A failed transaction ends in one known state: it is aborted (franz-go
// turns an abort after an unconfirmed EndTxn into a producer-id reload,
// which fences whatever is still open), and every partition is rewound to
// the watermark and metadata committed in Kafka and rebuilt, as if newly
// assigned: whether the failed commit in fact landed or not, the rebuilt
// state is the truth. Only when the run is stopping (runCtx done) is the
// rewind skipped; the next owner's recovery covers it.
func (e *Enricher) flush(runCtx context.Context) (bool, error) {
	var (
		outs    int
		commits = map[int32]int64{}
		parts   []int32
	)
	for p, st := range e.states {
		outs += len(st.out) + len(st.extra)
		if wm := st.watermark(); wm > st.committed || len(st.out) > 0 || len(st.extra) > 0 {
			// A partition with output is committed too, even at the same
			// watermark: its metadata (t, x) changes, and a new owner's
			// require_stable offset fetch then waits for this transaction.
			commits[p] = wm
		}
		parts = append(parts, p)
	}
	if outs == 0 && len(commits) == 0 {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.TransactionTimeout)
	defer cancel()
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	if outs == 0 {
		if err := e.commitPlain(ctx, commits); err != nil {
			e.m.txn("offsets_failed")
			e.logger.Warn("committing offsets failed; retrying next flush", "err", err)
			return false, nil
		}
		e.m.txn("offsets_only")
		e.committedTo(commits)
		return true, nil
	}
	err := e.transact(ctx, parts, commits)
	if err == nil {
		e.m.txn("committed")
		e.committedTo(commits)
		for _, st := range e.states {
			st.flushed()
		}
		return true, nil
	}
	e.m.txn("aborted")
	stopping := runCtx.Err() != nil
	e.logger.Warn("transaction failed; aborting and rewinding to the offsets committed in Kafka", "err", err, "stopping", stopping)
	actx, acancel := context.WithTimeout(context.Background(), e.cfg.TransactionTimeout)
	defer acancel()
	aerr := e.cl.AbortBufferedRecords(actx)
	if aerr == nil {
		aerr = e.cl.EndTransaction(actx, kgo.TryAbort)
	}
	if stopping {
		// The next owner recovers from what Kafka holds (an open
		// transaction is aborted by its timeout, and require_stable
		// waits for it).
		if aerr != nil {
			e.logger.Warn("aborting the transaction on the way out failed", "err", aerr)
		}
		return false, nil
	}
	if aerr != nil {
		// A fenced or failed producer cannot continue; let the process
		// restart and the group recover.
		return false, fmt.Errorf("aborting transaction after %v: %w", err, aerr)
	}
	return false, e.rewindAll(actx)
}

func (e *Enricher) committedTo(commits map[int32]int64) {
	for p, wm := range commits {
		if st := e.states[p]; st != nil {
			st.committed = wm
			e.m.committed.WithLabelValues(strconv.Itoa(int(p))).Set(float64(wm))
			if e.untilCommitted != nil {
				e.untilCommitted[p] = max(e.untilCommitted[p], wm)
			}
		}
	}
}

// transact produces every partition's output and commits the watermarks in
// one transaction.
func (e *Enricher) transact(ctx context.Context, parts []int32, commits map[int32]int64) error {
	if err := e.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	var (
		perr        error
		errMu       = make(chan struct{}, 1) // guards perr and rawExtraEnd
		rawExtraEnd = map[int32]int64{}
	)
	errMu <- struct{}{}
	setErr := func(err error) {
		<-errMu
		if perr == nil {
			perr = err
		}
		errMu <- struct{}{}
	}
	n := 0
	for _, p := range parts {
		n += len(e.states[p].out)
	}
	// The records are reused by the next transaction once this one
	// committed: its flush waited for every record produced. After a
	// failure the client may still hold them: they are left to it.
	if cap(e.recs) < n {
		e.recs = make([]kgo.Record, n)
	}
	recs := e.recs[:n]
	e.recs = nil
	n = 0
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			setErr(err)
		}
	}
	for _, p := range parts {
		st := e.states[p]
		for _, o := range st.out {
			r := &recs[n]
			n++
			*r = kgo.Record{Topic: e.topics.Enriched, Partition: p, Key: o.key, Value: o.value}
			e.cl.Produce(ctx, r, promise)
		}
		for _, r := range st.extra {
			e.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					setErr(err)
					return
				}
				if r.Topic == e.topics.Raw {
					<-errMu
					rawExtraEnd[r.Partition] = max(rawExtraEnd[r.Partition], r.Offset+1)
					errMu <- struct{}{}
				}
			})
		}
	}
	if err := e.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	<-errMu
	err := perr
	errMu <- struct{}{}
	if err != nil {
		return fmt.Errorf("producing: %w", err)
	}
	// Records are produced in order per partition, so the first offset
	// seen of a mark is its submission's first record.
	n = 0
	for _, p := range parts {
		st := e.states[p]
		for _, o := range st.out {
			off := recs[n].Offset
			n++
			if o.mark.enriched < 0 {
				o.mark.enriched = off
			}
			st.enrichedNext = max(st.enrichedNext, off+1)
		}
	}
	if len(commits) > 0 {
		if err := e.commitInTxn(ctx, commits); err != nil {
			return err
		}
	}
	if err := e.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	if e.untilExtra != nil {
		for p, end := range rawExtraEnd {
			e.untilExtra[p] = max(e.untilExtra[p], end)
		}
	}
	clear(recs) // references to the partitions' output buffers
	e.recs = recs[:0]
	return nil
}

// commitInTxn adds the consumer group's offsets to the open transaction
// (AddOffsetsToTxn + TxnOffsetCommit), with each partition's metadata.
func (e *Enricher) commitInTxn(ctx context.Context, commits map[int32]int64) error {
	pid, epoch, err := e.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("loading producer id: %w", err)
	}
	member, gen := e.cl.GroupMetadata()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID = e.cfg.txnID()
	add.ProducerID, add.ProducerEpoch, add.Group = pid, epoch, e.cfg.group()
	if err := retryConcurrent(ctx, func() error {
		resp, err := add.RequestWith(ctx, e.cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	}); err != nil {
		return fmt.Errorf("adding offsets to the transaction: %w", err)
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID = e.cfg.txnID()
	req.Group, req.ProducerID, req.ProducerEpoch, req.MemberID, req.Generation = e.cfg.group(), pid, epoch, member, gen
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic, t.TopicID = e.topics.Raw, e.rawTopicID
	for p, wm := range commits {
		pt := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		pt.Partition, pt.Offset, pt.LeaderEpoch = p, wm, -1
		meta := e.states[p].commitMetadata(wm).String()
		pt.Metadata = &meta
		t.Partitions = append(t.Partitions, pt)
	}
	req.Topics = append(req.Topics, t)
	return retryConcurrent(ctx, func() error {
		resp, err := req.RequestWith(ctx, e.cl)
		if err != nil {
			return fmt.Errorf("committing offsets in the transaction: %w", err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("committing offset of %s/%d in the transaction: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
		return nil
	})
}

// retryConcurrent retries fn while the coordinator reports a concurrent
// transaction still finishing, for up to ten seconds.
func retryConcurrent(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		if err == nil || !errors.Is(err, kerr.ConcurrentTransactions) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// commitPlain commits offsets outside a transaction: used when a flush has
// only dropped submissions to account for, so no records to write.
func (e *Enricher) commitPlain(ctx context.Context, commits map[int32]int64) error {
	member, gen := e.cl.GroupMetadata()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = e.cfg.group(), member, gen
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic, t.TopicID = e.topics.Raw, e.rawTopicID
	for p, wm := range commits {
		pt := kmsg.NewOffsetCommitRequestTopicPartition()
		pt.Partition, pt.Offset, pt.LeaderEpoch = p, wm, -1
		meta := e.states[p].commitMetadata(wm).String()
		pt.Metadata = &meta
		t.Partitions = append(t.Partitions, pt)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, e.cl)
	if err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, err)
			}
		}
	}
	return nil
}

// assigned recovers the state of newly assigned partitions. It does not
// use the callback's context, which a quickly following rebalance cancels:
// recovery must finish (or fail for real) before the partitions are
// fetched.
func (e *Enricher) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	<-e.ready
	ps := assigned[e.topics.Raw]
	if len(ps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Transient errors (a topic created a moment ago, a coordinator still
	// loading) are retried like the other startup steps.
	var states map[int32]*partState
	err := kafka.Startup{Logger: e.logger}.Do(ctx, "recovering partitions", func(ctx context.Context) error {
		var err error
		states, err = e.recover(ctx, ps)
		return err
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.assignErr = fmt.Errorf("recovering partitions %v: %w", ps, err)
		return
	}
	for p, st := range states {
		e.states[p] = st
		if e.untilCommitted != nil {
			e.untilCommitted[p] = max(e.untilCommitted[p], st.committed)
		}
		e.logger.Info("partition assigned", "partition", p, "from", st.committed, "already_emitted", len(st.emitted))
	}
}

// dropped forgets revoked or lost partitions. Everything after their
// committed watermark is read again by their next owner.
func (e *Enricher) dropped(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	<-e.ready
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range lost[e.topics.Raw] {
		if st := e.states[p]; st != nil {
			e.logger.Info("partition released", "partition", p, "pending_submissions", len(st.subs))
		}
		delete(e.states, p)
		e.m.committed.DeleteLabelValues(strconv.Itoa(int(p)))
	}
}

// rewindAll rebuilds every partition from its committed watermark after an
// aborted transaction and points the consumer back there.
func (e *Enricher) rewindAll(ctx context.Context) error {
	var ps []int32
	for p := range e.states {
		ps = append(ps, p)
	}
	states, err := e.recover(ctx, ps)
	if err != nil {
		return fmt.Errorf("rewinding after an aborted transaction: %w", err)
	}
	offsets := map[int32]kgo.EpochOffset{}
	for p, st := range states {
		e.states[p] = st
		offsets[p] = kgo.EpochOffset{Epoch: -1, Offset: st.committed}
	}
	e.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{e.topics.Raw: offsets})
	return nil
}

// recover builds fresh states for partitions: the committed watermark and
// its metadata, then the enriched partition read from the metadata's offset
// to learn which records are already out and which submissions were kept.
func (e *Enricher) recover(ctx context.Context, ps []int32) (map[int32]*partState, error) {
	committed, meta, err := e.fetchCommitted(ctx, ps)
	if err != nil {
		return nil, err
	}
	// The committed offsets are stable, so no transaction of a previous
	// owner is open on the group. On a real multi-broker Kafka the data
	// partitions' markers may still be on their way: wait until each
	// enriched partition's read-committed end reaches the end the
	// metadata names, then scan up to it.
	ends, err := e.enrichedEnds(ctx, meta)
	if err != nil {
		return nil, err
	}
	states := map[int32]*partState{}
	scan := map[int32]kgo.Offset{}
	for _, p := range ps {
		end := ends[p]
		st := newPartState(e.topics.Raw, p, committed[p], end)
		states[p] = st
		if m, ok := meta[p]; ok {
			st.movedBelow = max(m.movedBelow, 0)
			if m.scanFrom < end {
				scan[p] = kgo.NewOffset().At(m.scanFrom)
			}
		}
	}
	if err := e.restoreLinks(ctx, states, meta); err != nil {
		return nil, err
	}
	if len(scan) == 0 {
		return states, nil
	}
	opts := append([]kgo.Opt{}, e.base...)
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{e.topics.Enriched: scan}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The enriched topic is written only in transactions, so its last
		// offset is a commit or abort marker: keeping control records
		// lets the scan see that it reached the end.
		kgo.KeepControlRecords())
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	now := e.now()
	remaining := len(scan)
	done := map[int32]bool{}
	for remaining > 0 {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fs := rd.PollFetches(sctx)
		err := sctx.Err()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("reading %s to recover: %w", e.topics.Enriched, err)
		}
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			st := states[ftp.Partition]
			end := ends[ftp.Partition]
			for _, r := range ftp.Records {
				if r.Offset >= end {
					break
				}
				if !r.Attrs.IsControl() {
					st.remember(r, now)
				}
			}
			if !done[ftp.Partition] && len(ftp.Records) > 0 && ftp.Records[len(ftp.Records)-1].Offset+1 >= end {
				done[ftp.Partition] = true
				remaining--
			}
		})
	}
	return states, nil
}

// remember records an enriched record found during recovery.
func (st *partState) remember(r *kgo.Record, now time.Time) {
	var er v1.EnrichedRecord
	if err := proto.Unmarshal(r.Value, &er); err != nil {
		return
	}
	if !st.emitted[er.GetRecordId()] {
		st.emitted[er.GetRecordId()] = true
		st.emittedBytes += emittedOverhead + len(er.GetRecordId())
	}
	key := string(r.Key)
	// Rebuild the bookkeeping for commit metadata, so that this owner's
	// commits still point a later owner at these records.
	src := er.GetSource().GetOffset()
	st.emittedUntil = max(st.emittedUntil, src)
	if m := st.recovered[key]; m != nil {
		m.maxRaw = max(m.maxRaw, src)
	} else {
		m := &emitMark{maxRaw: src, enriched: r.Offset}
		st.recovered[key] = m
		st.marks = append(st.marks, m)
	}
	early, late, rule := parseKeptBy(er.GetSampling().GetKeptBy())
	dec := st.done[key]
	switch {
	case dec == nil:
		dec = &decision{keptBy: rule, early: early, late: late, recovered: true, spans: map[string]*v1.SpanContext{}, sub: er.GetSubmission(), at: now}
		st.done[key] = dec
		st.doneQ = append(st.doneQ, key)
	case dec.keptBy == "" && rule != "":
		// A later record of the submission says a tail rule kept it (a
		// late upgrade of a head decision): later records follow that.
		dec.keptBy, dec.early, dec.late = rule, early, late
	}
	dec.addID(idHash(er.GetRecordId()))
	if sp := er.GetRecord().GetSpan(); sp != nil {
		dec.spans[spanKey(sp.GetSpanId())] = er.GetSpan()
	}
	st.decidedBytes -= dec.bytes
	dec.bytes = dec.mem()
	st.decidedBytes += dec.bytes
}

// fetchCommitted reads committed offsets and metadata with require_stable,
// waiting out transactions still being completed.
func (e *Enricher) fetchCommitted(ctx context.Context, ps []int32) (map[int32]int64, map[int32]commitMeta, error) {
	deadline := time.Now().Add(e.cfg.TransactionTimeout + 10*time.Second)
	for {
		committed, meta := map[int32]int64{}, map[int32]commitMeta{}
		resps, err := e.adm.FetchOffsets(kadm.RequireStable(ctx), e.cfg.group())
		unstable := errors.Is(err, kerr.UnstableOffsetCommit)
		if err != nil && !unstable && !errors.Is(err, kerr.GroupIDNotFound) {
			return nil, nil, fmt.Errorf("fetching committed offsets: %w", err)
		}
		for _, p := range ps {
			r, ok := resps.Lookup(e.topics.Raw, p)
			if !ok {
				continue
			}
			if r.Err != nil {
				if errors.Is(r.Err, kerr.UnstableOffsetCommit) {
					unstable = true
					continue
				}
				return nil, nil, fmt.Errorf("fetching committed offset of %s/%d: %w", e.topics.Raw, p, r.Err)
			}
			if r.At >= 0 {
				committed[p] = r.At
			}
			m, err := parseCommitMeta(r.Metadata)
			switch {
			case err == nil:
				meta[p] = m
			case !errors.Is(err, errNoMeta):
				e.logger.Warn("ignoring unreadable commit metadata: records already out may be emitted again", "partition", p, "err", err)
			}
		}
		if !unstable {
			return committed, meta, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.New("committed offsets stayed unstable: a transaction of the previous owner never finished")
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// enrichedEnds returns the read-committed end of every enriched partition,
// after waiting (up to transaction_timeout plus ten seconds) until each
// reaches the end named in its committed metadata. If one never does (the
// enriched topic was re-created or truncated), recovery goes on with what
// is there and says so: records already out may then be emitted again,
// with the same record_id.
func (e *Enricher) enrichedEnds(ctx context.Context, meta map[int32]commitMeta) (map[int32]int64, error) {
	deadline := time.Now().Add(e.cfg.TransactionTimeout + 10*time.Second)
	for {
		lso, err := e.adm.ListCommittedOffsets(ctx, e.topics.Enriched)
		if err != nil {
			return nil, fmt.Errorf("listing enriched end offsets: %w", err)
		}
		ends := map[int32]int64{}
		behind := map[int32]int64{}
		lso.Each(func(o kadm.ListedOffset) {
			if o.Topic != e.topics.Enriched {
				return
			}
			ends[o.Partition] = o.Offset
			if m, ok := meta[o.Partition]; ok && o.Err == nil && m.enrichedEnd > o.Offset {
				behind[o.Partition] = m.enrichedEnd
			}
		})
		if err := lso.Error(); err != nil {
			return nil, fmt.Errorf("listing enriched end offsets: %w", err)
		}
		if len(behind) == 0 {
			return ends, nil
		}
		if time.Now().After(deadline) {
			e.logger.Error("the enriched topic never reached the end named in the commit metadata; records already out may be emitted again",
				"waiting_for", behind, "ends", ends)
			return ends, nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the enriched partitions to reach %v: %w", behind, ctx.Err())
		}
	}
}

// restoreLinks reads, for every partition whose metadata names the oldest
// trace link still in use below the committed watermark (l), the links from
// there to the watermark, so that the context-only records the previous
// owner moved on arrival are known as moved when they are read again. It
// reads at most link_ttl of the partition and decodes only the records
// marked with KindHeader.
func (e *Enricher) restoreLinks(ctx context.Context, states map[int32]*partState, meta map[int32]commitMeta) error {
	from := map[int32]kgo.Offset{}
	for p, st := range states {
		if m, ok := meta[p]; ok && m.linksFrom >= 0 && m.linksFrom < st.committed {
			from[p] = kgo.NewOffset().At(m.linksFrom)
		}
	}
	if len(from) == 0 {
		return nil
	}
	opts := append([]kgo.Opt{}, e.base...)
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{e.topics.Raw: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer rd.Close()
	n := 0
	for len(from) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading the trace links of %s: %w", e.topics.Raw, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			st := states[r.Partition]
			if _, reading := from[r.Partition]; !reading || st == nil {
				return
			}
			if r.Offset+1 >= st.committed {
				delete(from, r.Partition)
			}
			if r.Offset >= st.committed || r.Attrs.IsControl() || !isLinkRecord(r) {
				return
			}
			var env v1.Envelope
			if proto.Unmarshal(r.Value, &env) == nil && env.GetTraceLink() != nil {
				e.pr.restoreLink(st, env.GetTraceLink(), r.Offset, r.Timestamp)
				n++
			}
		})
	}
	if n > 0 {
		e.logger.Info("trace links restored", "links", n)
	}
	return nil
}

func isLinkRecord(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == KindHeader && string(h.Value) == "trace_link" {
			return true
		}
	}
	return false
}
