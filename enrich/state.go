package enrich

import (
	"bytes"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// pendingRecord is a raw record held until it is emitted or dropped: its
// raw value (an exact-size copy, so that it pins no fetch buffer; it goes
// out verbatim as the enriched record's field 3) and the few fields the
// join and the decisions read. The decoded Envelope is not kept: it is
// decoded again (decode) where a rule must see the whole record after it
// was added, which ctxGen and spanWait make rare.
type pendingRecord struct {
	raw     []byte
	service string
	// spanID is a log's span id (the span it ran in), or a span's own.
	spanID []byte
	offset int64
	gen    uint32   // the submission's ctxGen when the tail rules last saw it
	stage  v1.Stage // the record's own stage
	level  int8     // its level rank (v1.Envelope.LevelRank)
	span   bool     // a span, else a log
	// spanWait: a log whose span had not arrived when it was added; the
	// rules that read the span see it again when the span arrives. It
	// keeps its decoded form (env) meanwhile when such rules exist, counted
	// in mem: the span usually follows within a poll or two, and decoding
	// every waiting log again cost more than holding it.
	spanWait bool
	env      *v1.Envelope
	envMem   int // decodedMem(env), counted while env is held
	// chunk is the index plus one of the chunk of the submission's arena
	// raw is in (arena.go), counted there; 0: raw is a copy of its own.
	chunk int16
}

// newPendingRecord is the held form of env, whose wire form is raw: raw is
// copied when own is false. The record's strings and bytes may point into
// raw (ownDecode): they live as long as it.
func newPendingRecord(env *v1.Envelope, raw []byte, offset int64, own bool) pendingRecord {
	if !own {
		c := make([]byte, len(raw))
		copy(c, raw)
		raw = c
	}
	r := pendingRecord{raw: raw, service: env.Service(), offset: offset,
		stage: env.Submission().GetStage(), level: int8(env.LevelRank())}
	if sp := env.GetSpan(); sp != nil {
		r.span, r.spanID = true, sp.GetSpanId()
	} else {
		r.spanID = env.GetLog().GetSpanId()
	}
	return r
}

// kind is the record's kind, as v1.Envelope.Kind names it.
func (r *pendingRecord) kind() string {
	if r.span {
		return v1.KindSpan
	}
	return v1.KindLog
}

// logSpanID is the span id of the span a log ran in; nil for a span.
func (r *pendingRecord) logSpanID() []byte {
	if r.span {
		return nil
	}
	return r.spanID
}

// decode is the decoded record, decoded again from the held raw value
// unless it is still held, for a rule that must see the whole record. Its
// strings point into the raw value: clone what is kept beyond the record.
func (r *pendingRecord) decode() (*v1.Envelope, error) {
	if r.env != nil {
		return r.env, nil
	}
	env := &v1.Envelope{}
	if err := v1.UnmarshalUnsafe(r.raw, env); err != nil {
		return nil, err
	}
	return env, nil
}

// mem is the heap the held record is counted as.
func (r *pendingRecord) mem() int {
	n := recordOverhead
	if r.chunk == 0 {
		n = recordMem(len(r.raw))
	}
	if r.env != nil {
		n += r.envMem
	}
	return n
}

// holdDecoded sets the decoded form r holds (nil: none), counting it.
func (sub *submission) holdDecoded(st *partState, r *pendingRecord, env *v1.Envelope) {
	d := r.mem()
	r.env, r.envMem = env, 0
	if env != nil {
		r.envMem = decodedMem(env)
	}
	d = r.mem() - d
	sub.bytes += d
	st.bytes += d
}

// spanNode is what the span tree needs of a span of a pending submission.
type spanNode struct {
	parent  string // spanKey of its parent; "" for a root
	closing bool   // isCompletion
}

// submission is the state of one undecided submission.
type submission struct {
	key         string
	firstOffset int64
	// records are the held records: all of them until the submission is
	// kept live, then only the logs still waiting for their span.
	records    []pendingRecord
	spans      map[string]spanNode        // by spanKey
	ctxs       map[string]*v1.SpanContext // the spans' own contexts, by spanKey
	ids        map[uint64]struct{}        // idHash of every record id seen: client retries are skipped
	bytes      int
	firstSeen  time.Time
	lastSeen   time.Time
	completeAt time.Time // zero until complete on evidence (updateCompletion)
	decided    bool
	dueTaken   bool // taken from the deadline queue to be decided (due.go)
	// keptBy is the tail rule that fired while pending: the submission is
	// kept, and its records go out as they become ready (live keep).
	keptBy string
	late   bool // keptBy came from a late upgrade (recovered)
	// resumed: rebuilt by recovery; what the previous owner emitted
	// already went out, so the user need not be known to stream on.
	resumed bool
	// rules are the rules the records were evaluated with; ctxGen counts
	// changes of the submission context, so that a decision re-evaluates
	// only the records evaluated before the last change.
	rules      *Rules
	rulesMixed bool
	ctxGen     uint32
	// spanSub and logSub merge the submission context of the spans and of
	// the logs (spans win); mergeVer counts their changes, and mergedSub
	// caches their merge at mergedVer.
	spanSub, logSub     *v1.Submission
	mergeVer, mergedVer uint32
	mergedSub           *v1.Submission
	// traces are the trace ids (hex) a TraceLink was written for.
	traces map[string]bool
	// orphan: keyed by a trace id, with context-only records (no
	// submit_id), waiting for a TraceLink.
	orphan bool
	// mark is the emission bookkeeping of records emitted since the last
	// transaction; markListed says it is in partState.marks.
	mark       *emitMark
	markListed bool
	// chunks is the arena of the held records' raw values (arena.go);
	// lastCopy is the last copy made in it, not yet taken by add, in
	// chunk lastChunk.
	chunks    []rawChunk
	lastCopy  []byte
	lastChunk int16
}

func newSubmission(key string, offset int64, now time.Time) *submission {
	return &submission{key: key, firstOffset: offset, spans: map[string]spanNode{}, ctxs: map[string]*v1.SpanContext{}, ids: map[uint64]struct{}{},
		firstSeen: now, spanSub: &v1.Submission{}, logSub: &v1.Submission{}}
}

// merge adds a record's submission context and says whether it changed.
func (sub *submission) merge(env *v1.Envelope) bool {
	dst := sub.logSub
	if env.GetSpan() != nil {
		dst = sub.spanSub
	}
	return mergeSubmission(dst, env.Submission())
}

// merged is the submission context known so far: the spans', completed
// from the logs'. The result is shared: callers must not modify it.
func (sub *submission) merged() *v1.Submission {
	if sub.mergedSub == nil || sub.mergedVer != sub.mergeVer {
		m := proto.Clone(sub.spanSub).(*v1.Submission)
		mergeSubmission(m, sub.logSub)
		sub.mergedSub, sub.mergedVer = m, sub.mergeVer
	}
	return sub.mergedSub
}

// treeClosed says whether the span tree is closed: a root or feedback span
// arrived, and every span referenced as a parent by another span is there.
func (sub *submission) treeClosed() bool {
	closing := false
	for _, sp := range sub.spans {
		if sp.closing {
			closing = true
			continue
		}
		if _, ok := sub.spans[sp.parent]; sp.parent != "" && !ok {
			return false
		}
	}
	return closing
}

// nextMark is the emission mark for records emitted now: the current one
// while it is not produced yet, else a new one.
func (sub *submission) nextMark() *emitMark {
	if sub.mark == nil || sub.mark.enriched >= 0 {
		sub.mark = &emitMark{maxRaw: -1, enriched: -1}
		sub.markListed = false
	}
	return sub.mark
}

// listMark adds sub's current mark to the partition's marks once.
func (st *partState) listMark(sub *submission) {
	if !sub.markListed {
		st.marks = append(st.marks, sub.mark)
		sub.markListed = true
	}
}

// release forgets a decided (or moved) submission's records.
func (st *partState) release(sub *submission) {
	// The records per submission, averaged over the last few dozen.
	st.recsAvg += (min(len(sub.ids), maxRecordsHint)<<4 - st.recsAvg) / 16
	delete(st.subs, sub.key)
	sub.decided = true
	sub.records, sub.spans, sub.ctxs, sub.ids, sub.mergedSub = nil, nil, nil, nil, nil
	sub.chunks, sub.lastCopy = nil, nil
	// order and the deadline queue may reference sub until they drop it
	// (counted as orderOverhead at most): nothing but its struct may stay.
	sub.spanSub, sub.logSub, sub.traces, sub.rules = nil, nil, nil, nil
	st.bytes -= sub.bytes
	st.decidedInOrder++
	st.compactOrder()
}

// idHash is the identity of a record id in the dedup sets.
func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// traceLink is what a TraceLink said: the submission of a trace, read at
// offset, written at at.
type traceLink struct {
	sub    *v1.Submission
	at     time.Time
	offset int64
}

// KindHeader marks the records the enricher writes to the raw topic that
// are not raw records: "trace_link". Recovery reads links by it without
// decoding anything else.
const KindHeader = "logweave.kind"

// upgrade is a late upgrade waiting for its dropped records to be re-read
// from the raw topic; it holds the watermark at its trigger.
type upgrade struct {
	key     string
	dec     *decision
	offsets []int64
	trigger int64
}

func movedFromValue(p int32, offset int64) string {
	return strconv.Itoa(int(p)) + ":" + strconv.FormatInt(offset, 10)
}

// Memory estimates. A held record is its raw value (an exact-size copy)
// and a few decoded fields, and a pending submission keeps maps (record
// ids, spans, span contexts) beside them, so the limits count an estimate
// of the heap, not wire bytes. Measured by
// TestLimits_PendingBytesBoundTheHeap: the heap of thousands of pending
// submissions is 0.76 of the count on the gen workload (82-byte records,
// 29 per submission, 5 spans), 0.84 with 1 KiB log bodies.
const (
	recordOverhead     = 232  // per held record: structs, slices, its id in the dedup set
	decodedOverhead    = 64   // per decoded record held (a log waiting for its span), beyond its messages (decodedMem)
	spanOverhead       = 512  // per span of a pending submission: its context and map entries
	submissionOverhead = 3072 // per pending submission: its maps and merged context
	decisionOverhead   = 256  // per remembered decision
	spanCtxOverhead    = 320  // per span context of a remembered decision
	orderOverhead      = 64   // per decided submission still in order
	linkOverhead       = 192  // per remembered trace link
	emittedOverhead    = 48   // per record id known to be out after a recovery
)

// recordMem is the heap a held raw record of size wire bytes is counted as:
// its copy (size classes round up by at most an eighth; a copy over 32 KiB
// takes whole 8 KiB pages, up to a quarter more) and its fields.
func recordMem(size int) int {
	if size > 32<<10 {
		return (size+8<<10-1)&^(8<<10-1) + recordOverhead
	}
	return size + size/8 + recordOverhead
}

// decodedMem is the heap a decoded record held (pendingRecord.env) is
// counted as: its messages, one allocation each, and the slices of their
// repeated fields. Its strings and bytes take none: they point into the
// held raw value (ownDecode), counted by recordMem. The count follows the
// number of messages, not the wire size: an attribute of a few bytes on
// the wire is three objects on the heap.
func decodedMem(env *v1.Envelope) int {
	n := allocSize(unsafe.Sizeof(v1.Envelope{})) + allocSize(unsafe.Sizeof(v1.Submission{}))
	if sp := env.GetSpan(); sp != nil {
		n += allocSize(unsafe.Sizeof(v1.Envelope_Span{})) + allocSize(unsafe.Sizeof(v1.Span{})) + allocSize(unsafe.Sizeof(v1.Status{}))
		n += kvsMem(sp.GetAttributes()) + resourceMem(sp.GetResource()) + ptrSlice(len(sp.GetEvents()))
		for _, ev := range sp.GetEvents() {
			n += allocSize(unsafe.Sizeof(v1.SpanEvent{})) + kvsMem(ev.GetAttributes())
		}
	} else if l := env.GetLog(); l != nil {
		n += allocSize(unsafe.Sizeof(v1.Envelope_Log{})) + allocSize(unsafe.Sizeof(v1.Log{})) + kvsMem(l.GetAttributes()) + resourceMem(l.GetResource())
	}
	return n + decodedOverhead
}

func resourceMem(res *v1.Resource) int {
	if res == nil {
		return 0
	}
	return allocSize(unsafe.Sizeof(v1.Resource{})) + kvsMem(res.GetAttributes())
}

// kvsMem is the heap of decoded attributes: the slice of pointers, and
// per attribute its KeyValue, AnyValue and the AnyValue's oneof wrapper
// (nested lists and maps counted the same way).
func kvsMem(kvs []*v1.KeyValue) int {
	n := ptrSlice(len(kvs))
	for _, kv := range kvs {
		n += allocSize(unsafe.Sizeof(v1.KeyValue{})) + anyMem(kv.GetValue())
	}
	return n
}

func anyMem(v *v1.AnyValue) int {
	if v == nil {
		return 0
	}
	n := allocSize(unsafe.Sizeof(v1.AnyValue{})) + 16 // the oneof wrapper: 8 or 16 bytes
	switch x := v.GetValue().(type) {
	case *v1.AnyValue_ArrayValue:
		n += allocSize(unsafe.Sizeof(v1.ArrayValue{})) + ptrSlice(len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			n += anyMem(e)
		}
	case *v1.AnyValue_KvlistValue:
		n += allocSize(unsafe.Sizeof(v1.KeyValueList{})) + kvsMem(x.KvlistValue.GetValues())
	}
	return n
}

// ptrSlice is the heap of a decoded repeated message field of n elements
// (append doubles its capacity: up to twice n pointers).
func ptrSlice(n int) int {
	if n == 0 {
		return 0
	}
	return allocSize(uintptr(16 * n))
}

// allocSize rounds an object's size up as the allocator does: to a
// multiple of 16 up to 256 bytes, then by at most an eighth.
func allocSize(size uintptr) int {
	if size <= 256 {
		return int((size + 15) &^ 15)
	}
	return int(size + size/8)
}

// mem is the heap a remembered decision is counted as.
func (d *decision) mem() int {
	return decisionOverhead + len(d.spans)*spanCtxOverhead + 8*(cap(d.ids)+cap(d.dropped))
}

// decision is what was decided for a submission, kept for records that
// arrive after the decision.
type decision struct {
	keptBy string // tail rule, or "" for head sampling
	early  earlyCause
	late   bool // upgraded by a late record: kept_by "late:<rule>"
	// recovered: rebuilt from the enriched partition by a new owner; the
	// submission's next record resumes it as pending (processor.resume).
	recovered bool
	spans     map[string]*v1.SpanContext
	sub       *v1.Submission
	at        time.Time
	bytes     int // counted in partState.decidedBytes
	// ids are the sorted idHashes of the records emitted or dropped: a
	// client retry of one of them is skipped.
	ids []uint64
	// dropped are the raw offsets of the records head sampling dropped,
	// re-read by a late upgrade.
	dropped []int64
}

// addID adds a record id's hash; false when it was there already.
func (d *decision) addID(h uint64) bool {
	i := sort.Search(len(d.ids), func(i int) bool { return d.ids[i] >= h })
	if i < len(d.ids) && d.ids[i] == h {
		return false
	}
	d.ids = append(d.ids, 0)
	copy(d.ids[i+1:], d.ids[i:])
	d.ids[i] = h
	return true
}

// earlyCause says why a submission was decided before it completed.
type earlyCause uint8

const (
	notEarly    earlyCause = iota
	earlyMemory            // max_pending_submissions or max_pending_bytes reached: kept_by "early:<rule>"
	earlyAge               // max_pending_age reached: kept_by "early:age:<rule>"
)

// prefix is what kept_by starts with for a decision made early for c.
func (c earlyCause) prefix() string {
	switch c {
	case earlyMemory:
		return "early:"
	case earlyAge:
		return "early:age:"
	}
	return ""
}

// parseKeptBy splits a kept_by value written by the enricher into the
// early cause, whether a late record upgraded the decision, and the rule
// ("" for head sampling).
func parseKeptBy(keptBy string) (cause earlyCause, late bool, rule string) {
	keptBy, late = strings.CutPrefix(keptBy, "late:")
	if rest, ok := strings.CutPrefix(keptBy, "early:"); ok {
		cause, keptBy = earlyMemory, rest
		if rest, ok := strings.CutPrefix(keptBy, "age:"); ok {
			cause, keptBy = earlyAge, rest
		}
	}
	if strings.HasPrefix(keptBy, "head:") {
		keptBy = ""
	}
	return cause, late, keptBy
}

// output is an enriched record ready to produce, with the submission it
// belongs to (for the enriched-offset bookkeeping). key and value are
// slices of one of partState's output chunks.
type output struct {
	key, value []byte
	mark       *emitMark
}

// emit encodes an enriched record of the submission key into the current
// output chunk and queues it for the next transaction. A record that may
// not fit in what is left of the chunk starts the next one (a spare chunk
// of a committed transaction, else a new one), so that a chunk is never
// grown by copying; one larger than a quarter of a chunk gets a buffer of
// its own.
func (st *partState) emit(key string, mark *emitMark, f *enrichedFields) {
	need := len(key) + enrichedSizeHint(f)
	if cap(st.outBuf)-len(st.outBuf) < need {
		if need > outChunk/4 {
			b := append(make([]byte, 0, need), key...)
			b = appendEnriched(b, f)
			st.out = append(st.out, output{key: b[:len(key):len(key)], value: b[len(key):len(b):len(b)], mark: mark})
			return
		}
		if st.outBuf != nil {
			st.outFull = append(st.outFull, st.outBuf)
		}
		st.outBuf = nil
		if n := len(st.outSpare); n > 0 {
			st.outBuf, st.outSpare[n-1] = st.outSpare[n-1], nil
			st.outSpare = st.outSpare[:n-1]
		} else {
			st.outBuf = make([]byte, 0, outChunk)
		}
	}
	start := len(st.outBuf)
	st.outBuf = append(st.outBuf, key...)
	k := len(st.outBuf)
	st.outBuf = appendEnriched(st.outBuf, f)
	st.out = append(st.out, output{key: st.outBuf[start:k:k], value: st.outBuf[k:len(st.outBuf):len(st.outBuf)], mark: mark})
}

// flushed forgets the output of a committed transaction. Its chunks are
// reused by the next one: every record that pointed into them was
// produced (the transaction's flush waited for every produce promise, and
// the transaction committed). At most outSpareKeep bytes of chunks are
// kept.
func (st *partState) flushed() {
	clear(st.out)
	st.out, st.extra = st.out[:0], st.extra[:0]
	if st.outBuf != nil {
		st.outFull = append(st.outFull, st.outBuf)
	}
	st.outBuf = nil
	for i, c := range st.outFull {
		if cap(c) == outChunk && (len(st.outSpare)+1)*outChunk <= outSpareKeep {
			st.outSpare = append(st.outSpare, c[:0])
		}
		st.outFull[i] = nil
	}
	st.outFull = st.outFull[:0]
	st.movedBelow = max(st.movedBelow, st.movePending)
}

const (
	// outChunk is the size of an output chunk.
	outChunk = 256 << 10
	// outSpareKeep bounds the chunks a partition keeps for the next
	// transaction (not counted in pending_bytes: within heapSlack with a
	// few partitions).
	outSpareKeep = 4 << 20
)

// partState is everything the enricher holds for one raw partition. It is
// owned by the enricher's loop; nothing else touches it.
type partState struct {
	p     int32
	topic string
	subs  map[string]*submission
	order []*submission // by first offset; decided ones removed lazily
	due   dueQueue      // when pending submissions may be due (due.go)
	// decidedInOrder counts the decided submissions still in order; order
	// is compacted when they are the majority, so a long-pending head
	// does not keep every later submission referenced.
	decidedInOrder int
	done           map[string]*decision
	doneQ          []string // decision order, for expiry
	head           int64    // next raw offset to read
	bytes          int      // estimated heap of the held records (recordMem)
	decidedBytes   int      // estimated heap of the remembered decisions and of order
	// movedBelow is the raw offset below which misrouted and undecodable
	// records were moved by a committed transaction (commit metadata x);
	// movePending is the offset after the last one queued in extra.
	movedBelow, movePending int64
	// emitted holds record ids found in the enriched partition when the
	// partition was assigned: those are out already and are skipped when
	// the raw records are read again. emittedUntil is the highest raw
	// offset they came from: past it the set is released.
	emitted      map[string]bool
	emittedUntil int64
	emittedBytes int
	// recovered are the marks rebuilt from the enriched partition, by key.
	recovered map[string]*emitMark
	// marks records, in emission order, the enriched offset of the first
	// record of each emitted submission and the highest raw offset it
	// covered, to compute the offset-commit metadata.
	marks        []*emitMark
	enrichedNext int64
	committed    int64 // last committed raw offset (the watermark)
	out          []output
	// outBuf is the output chunk the next keys and values of out are
	// encoded into, outFull the chunks filled before it in this
	// transaction, outSpare the chunks of committed transactions ready to
	// be reused (emit, flushed).
	outBuf            []byte
	outFull, outSpare [][]byte
	// extra are records written elsewhere in the same transaction: raw
	// records re-produced to their right partition (misrouted, or
	// context-only records of a linked trace), trace links, and
	// undecodable records bound for the DLQ.
	extra []*kgoRecord
	// links are the trace links read here (trace id hex -> submission),
	// in linkQ order for expiry after link_ttl; linkBytes counts them.
	links     map[string]*traceLink
	linkQ     []string
	linkBytes int
	// upgrades wait for their dropped records to be re-read.
	upgrades []*upgrade
	// The read clock (clock.go): newest is the newest record timestamp
	// read, readTo the last time the partition was known read to its end,
	// now the clock itself, as last given to the processor.
	newest, readTo, now time.Time
	// holds keep head-sampled submissions re-readable for late_window, in
	// decision order.
	holds []lateHold
	// lastSub is the pending submission copyRaw found for the record add
	// takes next (nil: none, or add looks it up).
	lastSub *submission
	// recsAvg is a moving average of the records per released
	// submission, times 16 (recordsHint).
	recsAvg int
	// names are the service names interned (intern).
	names map[string]string
}

// advance moves the partition's clock to now (never back).
func (st *partState) advance(now time.Time) {
	if now.After(st.now) {
		st.now = now
	}
}

// at is the partition's clock, or now before it has one.
func (st *partState) at(now time.Time) time.Time {
	if st.now.IsZero() {
		return now
	}
	return st.now
}

type emitMark struct {
	maxRaw   int64
	enriched int64 // set once the record is produced; -1 before
}

func newPartState(topic string, p int32, committed, enrichedNext int64) *partState {
	return &partState{p: p, topic: topic, subs: map[string]*submission{}, done: map[string]*decision{}, links: map[string]*traceLink{},
		emitted: map[string]bool{}, recovered: map[string]*emitMark{}, head: committed, committed: committed, enrichedNext: enrichedNext}
}

// intern is s, or an equal string held already: the records of a partition
// share their few service names instead of each holding its own copy. At
// most maxInterned names are kept.
func (st *partState) intern(s string) string {
	if v, ok := st.names[s]; ok {
		return v
	}
	if len(st.names) < maxInterned {
		if st.names == nil {
			st.names = map[string]string{}
		}
		s = strings.Clone(s) // s may point into a raw record's value
		st.names[s] = s
	}
	return s
}

const maxInterned = 1024

// recordsHint is the capacity a new submission's records start with: the
// partition's recent average, from 4 to maxRecordsHint.
func (st *partState) recordsHint() int {
	return min(max(st.recsAvg>>4, 4), maxRecordsHint)
}

const maxRecordsHint = 64

// held is the estimated heap the partition holds: records of undecided
// submissions, remembered decisions and decided entries of order.
func (st *partState) held() int {
	return st.bytes + st.decidedBytes + st.linkBytes + st.emittedBytes + st.decidedInOrder*orderOverhead
}

// linksFrom is the raw offset of the oldest link still remembered, or -1.
func (st *partState) linksFrom() int64 {
	from := int64(-1)
	for _, t := range st.linkQ {
		if l := st.links[t]; l != nil && (from < 0 || l.offset < from) {
			from = l.offset
		}
	}
	return from
}

// compactOrder drops decided submissions from order when they are the
// majority of it.
func (st *partState) compactOrder() {
	if st.decidedInOrder < 64 || st.decidedInOrder*2 < len(st.order) {
		return
	}
	kept := make([]*submission, 0, len(st.order)-st.decidedInOrder)
	for _, sub := range st.order {
		if !sub.decided {
			kept = append(kept, sub)
		}
	}
	st.order, st.decidedInOrder = kept, 0
}

// watermark is the offset up to which the partition may be committed: the
// first offset of the oldest undecided submission, or the next offset to
// read when nothing is pending.
func (st *partState) watermark() int64 {
	for len(st.order) > 0 && st.order[0].decided {
		st.order[0] = nil
		st.order = st.order[1:]
		st.decidedInOrder--
	}
	wm := st.head
	if len(st.order) > 0 {
		wm = st.order[0].firstOffset
	}
	for _, up := range st.upgrades {
		wm = min(wm, up.trigger)
	}
	if h := st.holdFrom(); h >= 0 {
		wm = min(wm, h)
	}
	return wm
}

// commitMetadata is the metadata committed with watermark wm.
func (st *partState) commitMetadata(wm int64) commitMeta {
	m := commitMeta{scanFrom: st.scanFrom(wm), enrichedEnd: st.enrichedNext, movedBelow: max(st.movedBelow, st.movePending), linksFrom: -1}
	if l := st.linksFrom(); l >= 0 && l < wm {
		m.linksFrom = l
	}
	return m
}

// scanFrom is the enriched offset from which every submission whose
// raw records reach wm or later can be found: a new owner that resumes at
// wm reads the enriched partition from there to learn what is already out.
func (st *partState) scanFrom(wm int64) int64 {
	i := 0
	for i < len(st.marks) && st.marks[i].maxRaw < wm && st.marks[i].enriched >= 0 {
		i++
	}
	st.marks = st.marks[i:]
	for _, m := range st.marks {
		if m.maxRaw >= wm && m.enriched >= 0 {
			return m.enriched
		}
	}
	return st.enrichedNext
}

// spanContext is the context a record gets from span sp.
// Its strings and bytes are copies: sp may point into a raw record's
// value (ownDecode), and span contexts outlive it in decisions.
func spanContext(sp *v1.Span, join v1.JoinStatus) *v1.SpanContext {
	dur, _ := sp.DurationNanos()
	return &v1.SpanContext{
		Join: join, SpanId: bytes.Clone(sp.GetSpanId()), ParentSpanId: bytes.Clone(sp.GetParentSpanId()), Name: strings.Clone(sp.GetName()),
		Stage: sp.Stage(), Service: strings.Clone(sp.GetService()), StartTimeUnixNano: sp.GetStartTimeUnixNano(), DurationNanos: dur,
		Status: sp.GetStatus().GetCode(), StatusMessage: strings.Clone(sp.GetStatus().GetMessage()),
	}
}

// cloneSubmission is a copy of s whose strings are copies too (proto.Clone
// shares them): s may point into a raw record's value (ownDecode).
func cloneSubmission(s *v1.Submission) *v1.Submission {
	if s == nil {
		return nil
	}
	c := &v1.Submission{SubmitId: strings.Clone(s.SubmitId), UserId: strings.Clone(s.UserId), ProblemId: strings.Clone(s.ProblemId),
		Lang: strings.Clone(s.Lang), Stage: s.Stage}
	if s.SubmissionSeq != nil {
		v := *s.SubmissionSeq
		c.SubmissionSeq = &v
	}
	if u := s.ProtoReflect().GetUnknown(); len(u) > 0 {
		c.ProtoReflect().SetUnknown(bytes.Clone(u))
	}
	return c
}

// isCompletion says whether a span ends its submission: a root span, or
// the span of the final feedback stage.
func isCompletion(sp *v1.Span) bool {
	return len(sp.GetParentSpanId()) == 0 || sp.GetSubmission().GetStage() == v1.Stage_STAGE_FEEDBACK || sp.GetName() == "feedback"
}

// mergeSubmission fills empty fields of dst from src and says whether it
// changed dst.
func mergeSubmission(dst, src *v1.Submission) bool {
	if src == nil {
		return false
	}
	changed := false
	fill := func(d *string, s string) {
		if *d == "" && s != "" {
			*d, changed = strings.Clone(s), true // src may point into a raw record's value
		}
	}
	fill(&dst.SubmitId, src.SubmitId)
	fill(&dst.UserId, src.UserId)
	fill(&dst.ProblemId, src.ProblemId)
	fill(&dst.Lang, src.Lang)
	if dst.SubmissionSeq == nil && src.SubmissionSeq != nil {
		v := *src.SubmissionSeq
		dst.SubmissionSeq, changed = &v, true
	}
	return changed
}

// spanKey is the map key of a span id.
func spanKey(id []byte) string { return string(id) }
