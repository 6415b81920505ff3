package enrich

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/admin"
	"github.com/logweave/logweave/internal/kafka"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Topics names what the enricher reads and writes.
type Topics struct {
	Raw      string
	Enriched string
	DLQ      string
}

// Deps are the process-wide things an Enricher uses.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Startup, when set, is the readiness check of Run's startup step
	// (loading the topics' partition counts, retried while Kafka is not
	// ready); nil: none.
	Startup *admin.Pending
	// ClientOpts are added to the main client only (the group consumer
	// and transactional producer), not to the short-lived readers: e.g.
	// its kprom metrics hook, which belongs to one client.
	ClientOpts []kgo.Opt
}

// Enricher is one member of the logweave-enrich group.
//
// One loop owns all partition state: poll, add records to their
// partition's state, decide what is due, and every FlushInterval write the
// decided records and commit each partition's watermark in one Kafka
// transaction. The loop holds e.mu for a whole iteration, transaction
// included, and the revoke/lost callbacks take e.mu before dropping a
// partition: the group cannot finish rebalancing away a partition while a
// transaction that commits it is in flight, and after the callback nothing
// of the partition is left to commit. Revoked partitions simply drop their
// state, because everything after their committed watermark is read again
// by the next owner.
type Enricher struct {
	cfg    Config
	topics Topics
	base   []kgo.Opt
	cl     *kgo.Client
	adm    *kadm.Client
	logger *slog.Logger
	m      *metrics
	pr     *processor
	now    func() time.Time
	nparts int32
	// endsState is the end probe's last answer (clock.go).
	endsState
	// keyPart is franz-go's murmur2 key partitioner (Kafka's default), to
	// find where a keyed raw record belongs.
	keyPart kgo.TopicPartitioner
	// rawTopicID is needed by offset commit requests of newer versions.
	rawTopicID [16]byte
	// leaver leaves the group at the end of Run without waiting for a
	// rebalance in flight (internal/kafka).
	leaver *kafka.Leaver
	// startup is Deps.Startup.
	startup *admin.Pending

	// ready is closed once cl and adm are set: franz-go may call the
	// rebalance callbacks before NewClient returns to New.
	ready chan struct{}

	mu     sync.Mutex // guards states against the rebalance callbacks
	states map[int32]*partState
	// assignErr is set by a callback that could not recover a partition;
	// the loop returns it.
	assignErr error

	// A bounded run (a replay of raw, SetUntil) reads each partition up
	// to its offset in until. Its positions, not silence, say when it is
	// done: transaction markers are consumed too (KeepControlRecords), so
	// a partition's head reaches its end exactly. A partition reached its
	// end when its head did; the run is done when every partition's
	// watermark committed in Kafka reached its end (by this member, or by
	// another member of the job's group, which fetchWindowProgress reads).
	until          map[int32]int64
	untilDone      chan struct{}
	untilCommitted map[int32]int64 // committed watermark per bounded partition
	untilChecked   time.Time       // last fetch of other members' progress
	// heap starts a garbage collection when the heap is far above
	// pending_bytes (heapbound.go).
	heap *heapBound
	// recs are the enriched records of the last transaction, reused by
	// the next (txn.go transact).
	recs []kgo.Record

	// untilExtra is, per partition, the offset after the last record this
	// run wrote to its own raw topic (trace links, moved context-only or
	// misrouted records): those lie past the window's end and are read
	// too, so a partition's end is the larger of the two (boundEnd).
	untilExtra map[int32]int64
}

// boundEnd is where a bounded partition ends: the window's end, or past the
// records this run wrote to it.
func (e *Enricher) boundEnd(p int32) int64 { return max(e.until[p], e.untilExtra[p]) }

// SetUntil bounds the run to the raw offsets before until; Done closes once
// every partition's committed watermark reached its bound. The raw topic of
// a bounded run must be its own (a replay's copy of the window): what the
// run writes to it past the window (trace links, moved records) is read
// too. Call before Run.
func (e *Enricher) SetUntil(until map[int32]int64) {
	// The group may have assigned partitions already (franz-go joins from
	// NewClient): take their recovered watermarks under the lock the
	// rebalance callbacks hold.
	e.mu.Lock()
	defer e.mu.Unlock()
	e.until = until
	e.untilDone = make(chan struct{})
	e.untilCommitted = map[int32]int64{}
	e.untilExtra = map[int32]int64{}
	for p, st := range e.states {
		e.untilCommitted[p] = st.committed
	}
}

// Done is closed when a bounded run finished; nil for an unbounded one.
func (e *Enricher) Done() <-chan struct{} { return e.untilDone }

// decideReached decides everything pending once every bounded partition
// this member owns is read to its end and nothing it wrote to its raw topic
// is still unread: nothing more will come.
func (e *Enricher) decideReached(now time.Time) {
	if !e.allReached() {
		return
	}
	for _, st := range e.states {
		if len(st.extra) > 0 {
			return
		}
	}
	for p := range e.until {
		st := e.states[p]
		if st == nil {
			continue
		}
		subs := make([]*submission, 0, len(st.subs))
		for _, sub := range st.subs {
			subs = append(subs, sub)
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i].firstOffset < subs[j].firstOffset })
		for _, sub := range subs {
			e.pr.decide(st, sub, notEarly, st.clock(now))
		}
		// Late holds keep records re-readable for records that come
		// later (late_window): none will, so they would only delay Done.
		st.holds = nil
	}
}

// allReached says whether a bounded run read every partition it owns to
// its end.
func (e *Enricher) allReached() bool {
	if e.until == nil || len(e.states) == 0 {
		return false
	}
	for p, st := range e.states {
		if _, ok := e.until[p]; ok && st.head < e.boundEnd(p) {
			return false
		}
	}
	return true
}

// windowDone says whether every bounded partition's committed watermark
// reached its end. A partition this member does not own (revoked, or
// another member's) counts only once its committed offset, read from the
// group every second at most, reached the end.
func (e *Enricher) windowDone(ctx context.Context) bool {
	missing := false
	for p := range e.until {
		if end := e.boundEnd(p); end > 0 && e.untilCommitted[p] < end && e.states[p] == nil {
			missing = true
		}
	}
	if missing && time.Since(e.untilChecked) >= time.Second {
		e.untilChecked = time.Now()
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		offs, err := e.adm.FetchOffsets(kadm.RequireStable(fctx), e.cfg.group())
		cancel()
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == e.topics.Raw && o.Err == nil {
					e.untilCommitted[o.Partition] = max(e.untilCommitted[o.Partition], o.At)
				}
			})
		}
	}
	for p := range e.until {
		if end := e.boundEnd(p); end > 0 && e.untilCommitted[p] < end {
			return false
		}
	}
	return true
}

// New creates an enricher. base are the shared client options.
func New(cfg Config, topics Topics, rules *Rules, base []kgo.Opt, deps Deps) (*Enricher, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	e := &Enricher{cfg: cfg, topics: topics, base: base, logger: deps.Logger, m: newMetrics(deps.Registerer), now: deps.Now,
		states: map[int32]*partState{}, ready: make(chan struct{}), startup: deps.Startup}
	e.heap = newHeapBound(e.m.forcedGC)
	e.keyPart = kgo.StickyKeyPartitioner(nil).ForTopic(topics.Raw)
	e.listEnds = func(ctx context.Context) (kadm.ListedOffsets, error) {
		return e.adm.ListCommittedOffsets(ctx, topics.Raw)
	}
	e.pr = &processor{cfg: cfg, rawTopic: topics.Raw, m: e.m, wall: deps.Now, partitionOf: func(key string) int32 {
		return int32(e.keyPart.Partition(&kgo.Record{Key: []byte(key)}, int(e.nparts)))
	}}
	e.pr.rules.Store(rules)
	e.leaver = kafka.NewLeaver(base, cfg.group())
	opts := append([]kgo.Opt{}, base...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.group()),
		e.leaver.Opt(), // Run's end cancels it to leave without waiting for a rebalance
		kgo.ConsumeTopics(topics.Raw),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers (the raw topic gets them from moved
		// misrouted records and from transactional producers) move a
		// partition's head too: an idle partition commits past its last
		// marker (lag 0), and a bounded run sees exactly when it reached
		// its end.
		kgo.KeepControlRecords(),
		kgo.DisableAutoCommit(),
		// (franz-go always fetches start offsets with require_stable, so a
		// new owner never starts from a transaction still in flight.)
		kgo.TransactionalID(cfg.txnID()),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		// Enriched records go to the partition matching their raw one.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(e.assigned),
		kgo.OnPartitionsRevoked(e.dropped),
		kgo.OnPartitionsLost(e.dropped),
	)
	opts = append(opts, deps.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	e.cl = cl
	e.adm = kadm.NewClient(cl)
	close(e.ready)
	return e, nil
}

// SetRules swaps the sampling rules; pending submissions are decided with
// the rules current when they are decided.
func (e *Enricher) SetRules(r *Rules) { e.pr.rules.Store(r) }

// Client exposes the Kafka client (readiness checks).
func (e *Enricher) Client() *kgo.Client { return e.cl }

// Run enriches until ctx is done. On the way out it commits what was
// decided and leaves the group; undecided submissions are re-read by the
// next owner.
func (e *Enricher) Run(ctx context.Context) error {
	defer e.leave()
	if err := e.loadPartitionCount(ctx); err != nil {
		return err
	}
	// The end probe moves the partitions' read clocks (clock.go); it ends
	// with Run.
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); e.probeEnds(probeCtx) }()
	defer func() { stopProbe(); <-probeDone }()
	defer e.heap.wait()
	lastFlush := e.now()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, e.cfg.FlushInterval)
		fs := e.cl.PollRecords(pctx, 5000)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				e.logger.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		e.mu.Lock()
		if err := e.assignErr; err != nil {
			e.mu.Unlock()
			return err
		}
		now := e.now()
		e.applyEnds()
		fs.EachRecord(func(r *kgo.Record) { e.take(r, now) })
		for _, st := range e.states {
			e.pr.decideDue(st, st.clock(now))
		}
		e.decideReached(now)
		e.runUpgrades(ctx, now)
		e.pr.enforceLimits(e.states, now)
		e.heap.check(e.pr.held)
		e.m.oldestPending.Set(oldestPendingAge(e.states, now).Seconds())
		var (
			err       error
			committed = true
		)
		if now.Sub(lastFlush) >= e.cfg.FlushInterval || ctx.Err() != nil || e.allReached() {
			committed, err = e.flush(ctx)
			lastFlush = now
		}
		finished := err == nil && committed && e.until != nil && e.windowDone(ctx)
		e.mu.Unlock()
		if err != nil {
			return err
		}
		if finished {
			// Done closes only after a committed flush with every
			// partition of the window committed to its end.
			close(e.untilDone)
			<-ctx.Done()
			return nil
		}
	}
	// Final flush of what is decided.
	e.mu.Lock()
	_, err := e.flush(ctx)
	e.mu.Unlock()
	return err
}

// leave leaves the group and closes the client once the final flush is
// done, without waiting for a rebalance in flight: one held up by a member
// that died without leaving lasts until that member's session expires.
func (e *Enricher) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.leaver.Leave(ctx, e.cl); err != nil {
		e.logger.Warn("leaving the group failed; its partitions move when this member's session times out", "err", err)
	}
}

// loadPartitionCount retries while Kafka or the topics are not there yet
// (processes of a fleet start in any order) and gives up on what retrying
// cannot fix, such as the partition counts not matching.
func (e *Enricher) loadPartitionCount(ctx context.Context) error {
	st := kafka.Startup{Logger: e.logger, Pending: e.startup}
	return st.Do(ctx, "loading the partition counts of "+e.topics.Raw+" and "+e.topics.Enriched, e.loadPartitionCountOnce)
}

func (e *Enricher) loadPartitionCountOnce(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	td, err := e.adm.ListTopics(tctx, e.topics.Raw, e.topics.Enriched)
	if err != nil {
		return fmt.Errorf("describing topics: %w", err)
	}
	for _, t := range []string{e.topics.Raw, e.topics.Enriched} {
		d, ok := td[t]
		if !ok {
			return fmt.Errorf("topic %s: %w", t, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			return fmt.Errorf("topic %s: %w", t, d.Err)
		}
	}
	raw, enr := td[e.topics.Raw], td[e.topics.Enriched]
	if len(raw.Partitions) != len(enr.Partitions) {
		return fmt.Errorf("%s has %d partitions but %s has %d: the enricher writes raw partition p to enriched partition p, so they must match: %w",
			e.topics.Raw, len(raw.Partitions), e.topics.Enriched, len(enr.Partitions), kafka.ErrPartitionMismatch)
	}
	e.nparts = int32(len(raw.Partitions))
	e.rawTopicID = raw.ID
	return nil
}

// take adds one fetched raw record to its partition's state.
func (e *Enricher) take(r *kgo.Record, now time.Time) {
	st := e.states[r.Partition]
	if st == nil {
		return // revoked between fetch and now
	}
	if _, ok := e.until[r.Partition]; ok && r.Offset >= e.boundEnd(r.Partition) {
		// Past a replay's window and what it wrote itself.
		st.head = max(st.head, e.boundEnd(r.Partition))
		return
	}
	if r.Attrs.IsControl() {
		st.head = max(st.head, r.Offset+1)
		return
	}
	if len(r.Key) > 0 && e.nparts > 0 {
		if want := e.keyPart.Partition(r, int(e.nparts)); int32(want) != r.Partition {
			// Another partitioner put it here: move it where its
			// submission lives, in this same transaction, once.
			e.m.misrouted.Inc()
			e.moveExtra(st, r, &kgo.Record{Topic: e.topics.Raw, Partition: int32(want), Key: r.Key, Value: r.Value,
				Headers: append(r.Headers[:len(r.Headers):len(r.Headers)], kgo.RecordHeader{Key: MovedFromHeader, Value: []byte(movedFromValue(r.Partition, r.Offset))})})
			return
		}
	}
	var env v1.Envelope
	raw, err := st.decodeOwn(r.Key, r.Value, &env)
	if err != nil || env.GetRecord() == nil {
		e.m.undecodable.Inc()
		reason := "not an Envelope"
		if err != nil {
			reason = err.Error()
		}
		e.moveExtra(st, r, &kgo.Record{Topic: e.topics.DLQ, Key: r.Key, Value: r.Value, Headers: []kgo.RecordHeader{
			{Key: v1.HeaderDLQSink, Value: []byte("enrich")}, {Key: v1.HeaderDLQReason, Value: []byte("decode")},
			{Key: v1.HeaderDLQError, Value: []byte(reason)}, {Key: v1.HeaderDLQSourceTopic, Value: []byte(r.Topic)},
			{Key: v1.HeaderDLQSourcePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			{Key: v1.HeaderDLQSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			{Key: v1.HeaderDLQRecordID, Value: []byte(undecodableRecordID(&env, r.Value))},
		}})
		return
	}
	key := string(r.Key)
	if key == "" {
		key = strings.Clone(env.GetRecordId())
	}
	st.observe(r.Timestamp, now)
	e.pr.add(st, key, &env, raw, r.Offset, st.clock(now))
}

// ownDecode copies a fetched raw value into an exact-size buffer of the
// enricher's own (a held record keeps it, and nothing else of the fetch)
// and decodes env from the copy without copying strings and bytes again
// (UnmarshalUnsafe: they point into the copy, which is never modified).
// What outlives the record (span contexts, the submission context, trace
// links, interned names, a key) is cloned where it is kept:
// TestAdd_KeptValuesOutliveTheRawRecords overwrites the copies after
// everything was decided and checks them.
func ownDecode(value []byte, env *v1.Envelope) ([]byte, error) {
	raw := make([]byte, len(value))
	copy(raw, value)
	return raw, v1.UnmarshalUnsafe(raw, env)
}

// undecodableRecordID is the record_id of a raw record dead-lettered as
// undecodable: the envelope's own when it has one, else the first 128 bits
// of SHA-256 over the bytes in hex (the shape of ingest's ids), so that the
// same bytes read again get the same id.
func undecodableRecordID(env *v1.Envelope, value []byte) string {
	if id := env.GetRecordId(); id != "" {
		return id
	}
	sum := sha256.Sum256(value)
	return hex.EncodeToString(sum[:16])
}

// MovedFromHeader marks a misrouted raw record the enricher re-produced to
// its partition: "<partition>:<offset>" of the original. A replay of raw
// uses it to copy such a record once.
const MovedFromHeader = "logweave.moved-from"

// moveExtra queues out, a misrouted record's copy for its partition or an
// undecodable record for the DLQ, in the next transaction (once: see
// processor.moveExtra).
func (e *Enricher) moveExtra(st *partState, r, out *kgo.Record) {
	st.head = max(st.head, r.Offset+1)
	e.pr.moveExtra(st, r.Offset, out)
}
