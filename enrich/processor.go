package enrich

import (
	"encoding/hex"
	"sort"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

type kgoRecord = kgo.Record

// processor holds the join and sampling logic; it works on partStates and
// knows nothing of Kafka beyond the records it queues for the next
// transaction.
type processor struct {
	cfg      Config
	rules    atomic.Pointer[Rules]
	rawTopic string
	m        *metrics
	// partitionOf is the raw partition of a key (Kafka's murmur2); nil in
	// tests without Kafka, where everything is partition 0.
	partitionOf func(key string) int32
	// wall is the wall clock, for enriched_at; nil: the time the caller
	// passes (the partition's read clock, clock.go).
	wall func() time.Time
	// held is the estimated heap of all partitions (pending_bytes) as
	// enforceLimits last counted it.
	held int
}

func (pr *processor) partition(key string) int32 {
	if pr.partitionOf == nil {
		return 0
	}
	return pr.partitionOf(key)
}

// add takes one raw record of partition st at offset: env decoded from
// raw (ownDecode: its strings may point into raw). raw must be the
// enricher's own, never modified: a held record keeps it, and what is kept
// beyond the record is cloned.
func (pr *processor) add(st *partState, key string, env *v1.Envelope, raw []byte, offset int64, now time.Time) {
	last := st.lastSub
	st.lastSub = nil
	st.advance(now)
	if offset+1 > st.head {
		st.head = offset + 1
	}
	pr.m.in.inc(env.Kind())
	if st.emittedBytes > 0 && offset > st.emittedUntil {
		// Past every raw offset the recovery scan found out: the set can
		// no longer match.
		st.emitted, st.recovered, st.emittedBytes = map[string]bool{}, map[string]*emitMark{}, 0
	}
	if link := env.GetTraceLink(); link != nil {
		pr.link(st, link, offset, now)
		return
	}
	if st.emitted[env.GetRecordId()] {
		// Already out before a restart or rebalance: the recovery scan
		// found it in the enriched partition.
		pr.m.recovered.Inc()
		return
	}
	if l := st.links[key]; l != nil && isTraceOnly(env, key) {
		// A context-only record of a trace whose submission is known:
		// it goes to the submission's partition.
		pr.moveToSubmission(st, env, offset, offset, l.sub)
		return
	}
	if dec := st.done[key]; dec != nil && !dec.recovered {
		pr.late(st, key, dec, env, raw, offset, now)
		return
	}
	sub := last // found by copyRaw for this record
	if sub == nil || sub.key != key || sub.decided {
		sub = st.subs[key]
	}
	if sub == nil {
		sub = newSubmission(key, offset, now)
		sub.bytes = submissionOverhead
		st.bytes += submissionOverhead
		sub.orphan = isTraceOnly(env, key)
		if dec := st.done[key]; dec != nil {
			// Rebuilt by recovery from what the previous owner emitted:
			// the submission continues pending (a live keep goes on
			// streaming, logs still wait for their spans) with what is
			// known of it.
			pr.resume(st, sub, dec)
		}
		st.subs[key] = sub
		st.order = append(st.order, sub)
		st.due.schedule(sub, now.Add(min(pr.cfg.InactivityTimeout, pr.cfg.MaxPendingAge)))
	}
	h := idHash(env.GetRecordId())
	if _, dup := sub.ids[h]; dup {
		// A client retry: the same record again.
		pr.m.retried.Inc()
		return
	}
	sub.ids[h] = struct{}{}
	rec := newPendingRecord(env, raw, offset, true)
	rec.gen = sub.ctxGen
	rec.chunk = sub.takeChunk(raw)
	rec.service = st.intern(rec.service)
	mem := rec.mem()
	if n := len(sub.records); n == cap(sub.records) {
		// From 4 records straight to as many as the partition's recent
		// submissions had: not grown by doubling record by record, and a
		// submission of one or two records does not take the room of 30.
		c := max(2*n, 4)
		if h := st.recordsHint(); n > 0 && n < h {
			c = max(c, h)
		}
		sub.records = append(make([]pendingRecord, 0, c), sub.records...)
	}
	sub.records = append(sub.records, rec)
	sub.bytes += mem
	st.bytes += mem
	sub.lastSeen = now
	rules := pr.rules.Load()
	if sub.merge(env) {
		sub.mergeVer++
		if rules.subBound {
			sub.ctxGen++
		}
	}
	sp := env.GetSpan()
	if sp != nil {
		k := spanKey(sp.GetSpanId())
		if _, ok := sub.spans[k]; !ok {
			sub.bytes += spanOverhead
			st.bytes += spanOverhead
		}
		sub.spans[k] = spanNode{parent: spanKey(sp.GetParentSpanId()), closing: isCompletion(sp)}
		sub.ctxs[k] = spanContext(sp, v1.JoinStatus_JOIN_STATUS_SELF)
		pr.linkTrace(st, sub, sp, offset)
	}
	if sub.orphan {
		// Context-only records of a trace wait for a link to their
		// submission (or inactivity_timeout): they are neither kept live
		// nor complete on their own.
		return
	}
	pr.updateCompletion(st, sub, env, rules, now)
	if sub.keptBy == "" {
		pr.evalTail(st, sub, rules, env, len(sub.records)-1, sp)
	}
	if sub.keptBy != "" {
		// Live keep: what can be joined goes out at the next flush.
		pr.emitReady(st, sub, now)
	}
}

// evalTail evaluates the tail rules on the record at index i of sub's held
// records (env, decoded), with the context known now; when it is a span,
// the rules that read the span context run again on the logs that were
// added before it (their join just changed), decoded again from their raw
// value. The first rule that fires keeps the submission.
func (pr *processor) evalTail(st *partState, sub *submission, rules *Rules, env *v1.Envelope, i int, sp *v1.Span) {
	if sub.rules == nil {
		sub.rules = rules
	} else if sub.rules != rules {
		sub.rulesMixed = true // reloaded meanwhile: all are evaluated again at the decision
	}
	r := &sub.records[i]
	if id := r.logSpanID(); len(id) > 0 {
		if _, ok := sub.spans[spanKey(id)]; !ok {
			r.spanWait = true
			if rules.logSpanBound {
				sub.holdDecoded(st, r, env)
			}
		}
	}
	if name, ok := pr.tailMatch(sub, rules, env, allRules); ok {
		sub.keptBy = name
		return
	}
	if sp == nil {
		return
	}
	id := sp.GetSpanId()
	for j := range sub.records {
		w := &sub.records[j]
		if !w.spanWait || string(w.logSpanID()) != string(id) {
			continue
		}
		w.spanWait = false
		wenv := w.env
		sub.holdDecoded(st, w, nil)
		if wenv == nil {
			if !rules.logSpanBound {
				continue // no rule a log can match reads the span
			}
			var err error
			if wenv, err = w.decode(); err != nil {
				continue // it decoded when added
			}
		}
		if name, ok := pr.tailMatch(sub, rules, wenv, spanBound); ok {
			sub.keptBy = name
			return
		}
	}
}

// tailMatch evaluates the rules of set on one record of a pending
// submission with the context known now.
func (pr *processor) tailMatch(sub *submission, rules *Rules, env *v1.Envelope, set ruleSet) (string, bool) {
	// Rules read the span's fields, not how the join came about, so a
	// log sees its span's own context.
	var sc *v1.SpanContext
	if sp := env.GetSpan(); sp != nil {
		sc = sub.ctxs[spanKey(sp.GetSpanId())]
	} else if id := env.GetLog().GetSpanId(); len(id) > 0 {
		sc = sub.ctxs[spanKey(id)]
	}
	if sc == nil {
		sc = missingJoin
	}
	return rules.tailMatch(env, sc, sub.merged(), set, env.Kind())
}

// missingJoin is the span context rules see for a log without its span.
var missingJoin = &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_MISSING}

// updateCompletion sets when a submission is complete on evidence: its span
// tree closed (a root or feedback span arrived and every span referenced as
// a parent is present), plus completion_grace for what SDK batching still
// holds back; or, for a submission without spans, a record matching the
// rules' completion expression, plus the grace.
func (pr *processor) updateCompletion(st *partState, sub *submission, env *v1.Envelope, rules *Rules, now time.Time) {
	if env.GetSpan() != nil {
		if sub.treeClosed() {
			sub.completeAt = now.Add(pr.cfg.CompletionGrace)
			st.due.schedule(sub, sub.completeAt)
		} else {
			sub.completeAt = time.Time{}
		}
		return
	}
	if len(sub.spans) == 0 && sub.completeAt.IsZero() && rules.Completes(env, sub.merged()) {
		sub.completeAt = now.Add(pr.cfg.CompletionGrace)
		st.due.schedule(sub, sub.completeAt)
	}
}

// decideDue decides the submissions that completed, went quiet, or have
// been pending for max_pending_age (decided early: a submission that keeps
// receiving records must not pin the watermark and memory for ever).
func (pr *processor) decideDue(st *partState, now time.Time) {
	st.advance(now)
	due := pr.popDue(st, now)
	// In offset order, so output order follows the input.
	sort.Slice(due, func(i, j int) bool { return due[i].firstOffset < due[j].firstOffset })
	for _, sub := range due {
		cause := notEarly
		if (sub.completeAt.IsZero() || now.Before(sub.completeAt)) && now.Sub(sub.lastSeen) < pr.cfg.InactivityTimeout {
			cause = earlyAge // due only by max_pending_age
		}
		pr.decide(st, sub, cause, now)
	}
	pr.expire(st, now, 0)
}

// expire forgets decisions older than DecidedTTL, and the oldest ones while
// the decisions take more than maxBytes (when positive); and trace links
// older than link_ttl.
func (pr *processor) expire(st *partState, now time.Time, maxBytes int) {
	i := 0
	for ; i < len(st.doneQ); i++ {
		dec := st.done[st.doneQ[i]]
		if dec != nil && now.Sub(dec.at) < pr.cfg.DecidedTTL && (maxBytes <= 0 || st.decidedBytes <= maxBytes) {
			break
		}
		if dec != nil {
			if now.Sub(dec.at) < pr.cfg.DecidedTTL {
				pr.m.forgotten.Inc()
			}
			st.decidedBytes -= dec.bytes
			delete(st.done, st.doneQ[i])
		}
		st.doneQ[i] = ""
	}
	st.doneQ = st.doneQ[i:]
	pr.expireLinks(st, now, 0)
}

// expireLinks forgets trace links older than link_ttl, and the oldest ones
// while the links take more than maxBytes (when positive).
func (pr *processor) expireLinks(st *partState, now time.Time, maxBytes int) {
	j := 0
	for ; j < len(st.linkQ); j++ {
		t := st.linkQ[j]
		l := st.links[t]
		if l != nil && now.Sub(l.at) < pr.cfg.LinkTTL && (maxBytes <= 0 || st.linkBytes <= maxBytes) {
			break
		}
		if l != nil {
			if now.Sub(l.at) < pr.cfg.LinkTTL {
				pr.m.linksForgotten.Inc()
			}
			st.linkBytes -= linkOverhead
			delete(st.links, t)
		}
		st.linkQ[j] = ""
	}
	st.linkQ = st.linkQ[j:]
}

// decide keeps or drops a whole submission and queues its kept records.
// The submission's records are released: only the decision is remembered.
func (pr *processor) decide(st *partState, sub *submission, early earlyCause, now time.Time) {
	rules := pr.rules.Load()
	ctxs := sub.ctxs
	merged := sub.merged()
	tail := sub.keptBy
	if tail != "" {
		early = notEarly // kept live, before any early cause
	} else {
		tail = pr.tailAtDecision(sub, rules, merged, ctxs)
	}
	dec := &decision{keptBy: tail, early: early, late: sub.late && tail == sub.keptBy, spans: ctxs, sub: merged, at: now}
	if pr.emitAll(st, sub.key, dec, sub.records, sub.nextMark(), rules, now) > 0 {
		st.listMark(sub)
	}
	if window := min(pr.cfg.LateWindow, pr.cfg.DecidedTTL); len(dec.dropped) > 0 && window > 0 {
		// Head sampling dropped records: for late_window the watermark
		// stays at the submission's first record, so that a late record
		// firing a tail rule finds them re-read and kept also on a new
		// owner (state.go watermark).
		st.hold(sub.firstOffset, now.Add(window))
	}
	rule := tail
	if rule == "" {
		rule = "head"
	}
	switch early {
	case earlyMemory:
		pr.m.early.WithLabelValues("memory").Inc()
	case earlyAge:
		pr.m.early.WithLabelValues("age").Inc()
	}
	pr.m.decisions.WithLabelValues(rule).Inc()
	pr.m.decisionLatency.Observe(now.Sub(sub.firstSeen).Seconds())
	dec.ids = make([]uint64, 0, len(sub.ids))
	for h := range sub.ids {
		dec.ids = append(dec.ids, h)
	}
	sort.Slice(dec.ids, func(i, j int) bool { return dec.ids[i] < dec.ids[j] })
	pr.remember(st, sub.key, dec)
	st.release(sub)
}

// tailAtDecision evaluates again, with the whole submission known, the
// records evaluated before the submission context changed (only when a
// rule reads it), or all of them after a rules reload. It returns the
// first rule that fires.
func (pr *processor) tailAtDecision(sub *submission, rules *Rules, merged *v1.Submission, ctxs map[string]*v1.SpanContext) string {
	all := sub.rulesMixed || sub.rules != rules
	for _, r := range sub.records {
		if !all && r.gen == sub.ctxGen {
			continue
		}
		env, err := r.decode()
		if err != nil {
			continue // it decoded when added
		}
		if name, ok := rules.tailMatch(env, joinContext(env, ctxs), merged, allRules, r.kind()); ok {
			return name
		}
	}
	return ""
}

// resume seeds a pending submission with a decision recovery rebuilt: its
// tail rule (the submission was kept), the spans emitted and their
// submission context, and the ids of the records out.
func (pr *processor) resume(st *partState, sub *submission, dec *decision) {
	sub.keptBy, sub.late, sub.resumed = dec.keptBy, dec.late, true
	for k, sc := range dec.spans {
		sub.ctxs[k] = sc
	}
	mergeSubmission(sub.spanSub, dec.sub)
	sub.mergeVer++
	for _, h := range dec.ids {
		sub.ids[h] = struct{}{}
	}
	st.decidedBytes -= dec.bytes
	delete(st.done, sub.key)
}

// remember stores a decision for the records that arrive after it.
func (pr *processor) remember(st *partState, key string, dec *decision) {
	if old := st.done[key]; old != nil {
		st.decidedBytes -= old.bytes
	}
	dec.bytes = dec.mem()
	st.decidedBytes += dec.bytes
	st.done[key] = dec
	st.doneQ = append(st.doneQ, key)
}

// emitReady queues the held records of a live-kept submission that can go
// out now: spans, and logs whose span is present or that name none. Logs
// waiting for their span stay held until it arrives or the submission is
// decided. Nothing goes out before the submission's user is known (from any
// record): a record found by user later must carry it; a submission whose
// records never name a user streams from its decision on.
func (pr *processor) emitReady(st *partState, sub *submission, now time.Time) {
	if sub.merged().GetUserId() == "" && !sub.resumed {
		return
	}
	ctxs := sub.ctxs
	dec := &decision{keptBy: sub.keptBy, late: sub.late, spans: ctxs, sub: sub.merged()}
	var ready []pendingRecord
	held := sub.records[:0]
	for _, r := range sub.records {
		if id := r.logSpanID(); len(id) > 0 && ctxs[spanKey(id)] == nil {
			held = append(held, r)
			continue
		}
		ready = append(ready, r)
	}
	if len(ready) == 0 {
		return
	}
	for i := len(held); i < len(sub.records); i++ {
		sub.records[i] = pendingRecord{}
	}
	sub.records = held
	for i := range ready {
		mem := ready[i].mem()
		sub.bytes -= mem
		st.bytes -= mem
		sub.releaseChunk(st, &ready[i])
	}
	if pr.emitAll(st, sub.key, dec, ready, sub.nextMark(), pr.rules.Load(), now) > 0 {
		st.listMark(sub)
	}
	pr.m.liveEmitted.Add(float64(len(ready)))
}

// emitAll queues the kept records of a decision and returns how many; it
// records the dropped ones' offsets in the decision, for a late upgrade.
func (pr *processor) emitAll(st *partState, key string, dec *decision, recs []pendingRecord, mark *emitMark, rules *Rules, now time.Time) int {
	u := sampleHash(key)
	n := 0
	enrichedAt := now
	if pr.wall != nil {
		enrichedAt = pr.wall()
	}
	for i := range recs {
		r := &recs[i]
		keptBy, rate, ok := dec.keep(int(r.level), r.service, u, rules)
		if !ok {
			pr.m.dropped.inc(r.kind())
			dec.dropped = append(dec.dropped, r.offset)
			continue
		}
		f := enrichedFields{raw: r.raw, spanID: r.spanID, sub: dec.sub, stage: r.stage, keptBy: keptBy, rate: rate,
			topic: pr.rawTopic, part: st.p, offset: r.offset, enriched: uint64(enrichedAt.UnixNano())}
		joinFields(&f, r, dec.spans)
		if !r.span {
			if f.join == v1.JoinStatus_JOIN_STATUS_JOINED {
				pr.m.joinHit.Inc()
			} else {
				pr.m.joinMiss.Inc()
			}
		}
		if r.offset > mark.maxRaw {
			mark.maxRaw = r.offset
		}
		st.emit(key, mark, &f)
		pr.m.out.inc(r.kind())
		n++
	}
	return n
}

// joinFields sets f's span context as joinContext gives it for r: a span's
// own, a log's span's (joined), or a missing join; and the record's stage,
// its own or else its span's.
func joinFields(f *enrichedFields, r *pendingRecord, ctxs map[string]*v1.SpanContext) {
	switch {
	case r.span:
		sc := ctxs[spanKey(r.spanID)]
		if sc == nil {
			// Not among the submission's spans (cannot happen for a
			// held span): its own context.
			if env, err := r.decode(); err == nil && env.GetSpan() != nil {
				sc = spanContext(env.GetSpan(), v1.JoinStatus_JOIN_STATUS_SELF)
			} else {
				sc = &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_SELF, SpanId: r.spanID}
			}
		}
		f.span, f.join = sc, sc.Join
	case len(r.spanID) > 0:
		if sc := ctxs[spanKey(r.spanID)]; sc != nil {
			f.span, f.join = sc, v1.JoinStatus_JOIN_STATUS_JOINED
		}
	}
	if f.span == nil {
		f.join = v1.JoinStatus_JOIN_STATUS_MISSING
	}
	if f.stage == v1.Stage_STAGE_UNSPECIFIED && f.span != nil {
		f.stage = f.span.GetStage()
	}
}

// keep applies a decision to one record: the whole submission for a tail
// rule, else the head rate of the record's level and service.
func (dec *decision) keep(level int, service string, u float64, rules *Rules) (keptBy string, rate float64, ok bool) {
	prefix := dec.early.prefix()
	if dec.late {
		prefix = "late:"
	}
	if dec.keptBy != "" {
		return prefix + dec.keptBy, 1, true
	}
	rate = rules.HeadRate(level, service)
	if rate <= 0 || u >= rate {
		return "", rate, false
	}
	return prefix + headKeptBy(rate), rate, true
}

// joinContext is the span context of a record: its own for a span, the
// span it ran in for a log, or a missing-join marker.
func joinContext(env *v1.Envelope, ctxs map[string]*v1.SpanContext) *v1.SpanContext {
	if sp := env.GetSpan(); sp != nil {
		if sc := ctxs[spanKey(sp.GetSpanId())]; sc != nil {
			return sc
		}
		return spanContext(sp, v1.JoinStatus_JOIN_STATUS_SELF)
	}
	if id := env.GetLog().GetSpanId(); len(id) > 0 {
		if sc := ctxs[spanKey(id)]; sc != nil {
			return &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, SpanId: sc.SpanId, ParentSpanId: sc.ParentSpanId,
				Name: sc.Name, Stage: sc.Stage, Service: sc.Service, StartTimeUnixNano: sc.StartTimeUnixNano,
				DurationNanos: sc.DurationNanos, Status: sc.Status, StatusMessage: sc.StatusMessage}
		}
	}
	return &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_MISSING, SpanId: env.GetLog().GetSpanId()}
}

// late handles a record of an already decided submission: a client retry
// of a record already emitted or dropped is skipped; otherwise it follows
// the decision, joined with the spans known then (a late span joins later
// records too). A record that fires a tail rule after a head decision
// upgrades it: the record goes out, and so do the records head sampling
// dropped, re-read from the raw topic (kept_by late:<rule>).
func (pr *processor) late(st *partState, key string, dec *decision, env *v1.Envelope, raw []byte, offset int64, now time.Time) {
	h := idHash(env.GetRecordId())
	if !dec.addID(h) {
		pr.m.retried.Inc()
		return
	}
	pr.m.late.Inc()
	if sp := env.GetSpan(); sp != nil {
		dec.spans[spanKey(sp.GetSpanId())] = spanContext(sp, v1.JoinStatus_JOIN_STATUS_SELF)
	}
	mergeSubmission(dec.sub, env.Submission())
	rules := pr.rules.Load()
	if dec.keptBy == "" {
		sc := joinContext(env, dec.spans)
		if name, ok := rules.TailMatch(env, sc, dec.sub); ok {
			dec.keptBy, dec.late, dec.early = name, true, notEarly
			pr.m.upgrades.Inc()
			if len(dec.dropped) > 0 {
				st.upgrades = append(st.upgrades, &upgrade{key: key, dec: dec, offsets: dec.dropped, trigger: offset})
				dec.dropped = nil
			}
		}
	}
	mark := &emitMark{maxRaw: offset, enriched: -1}
	if pr.emitAll(st, key, dec, []pendingRecord{newPendingRecord(env, raw, offset, true)}, mark, rules, now) > 0 {
		st.marks = append(st.marks, mark)
	}
	st.decidedBytes -= dec.bytes
	dec.bytes = dec.mem()
	st.decidedBytes += dec.bytes
}

// upgraded emits a record re-read from the raw topic for a late upgrade.
func (pr *processor) upgraded(st *partState, up *upgrade, env *v1.Envelope, raw []byte, offset int64, now time.Time) {
	if sp := env.GetSpan(); sp != nil {
		up.dec.spans[spanKey(sp.GetSpanId())] = spanContext(sp, v1.JoinStatus_JOIN_STATUS_SELF)
	}
	mark := &emitMark{maxRaw: offset, enriched: -1}
	if pr.emitAll(st, up.key, up.dec, []pendingRecord{newPendingRecord(env, raw, offset, true)}, mark, pr.rules.Load(), now) > 0 {
		st.marks = append(st.marks, mark)
	}
}

// enforceLimits keeps the estimated heap of all partitions within
// max_pending_bytes and the undecided submissions within
// max_pending_submissions: remembered decisions may take at most a quarter
// of the bytes and trace links an eighth (the oldest are forgotten first),
// then the oldest submissions are decided early.
func (pr *processor) enforceLimits(states map[int32]*partState, now time.Time) {
	decidedMax, linksMax := pr.cfg.MaxPendingBytes/4, pr.cfg.MaxPendingBytes/8
	decided, links := 0, 0
	for _, st := range states {
		decided += st.decidedBytes
		links += st.linkBytes
	}
	if decided > decidedMax {
		for _, st := range states {
			// Each partition gets its share of the quarter.
			pr.expire(st, st.at(now), decidedMax/len(states))
		}
	}
	if links > linksMax {
		for _, st := range states {
			pr.expireLinks(st, st.at(now), linksMax/len(states))
		}
	}
	for {
		n, bytes := 0, 0
		for _, st := range states {
			n += len(st.subs)
			bytes += st.held()
		}
		pr.m.pendingSubs.Set(float64(n))
		pr.m.counts.pending.Store(int64(n))
		pr.m.pendingBytes.Set(float64(bytes))
		pr.held = bytes
		if n <= pr.cfg.MaxPendingSubmissions && bytes <= pr.cfg.MaxPendingBytes {
			return
		}
		var (
			oldest   *submission
			oldestSt *partState
		)
		for _, st := range states {
			st.watermark() // drops decided heads
			if len(st.order) > 0 && (oldest == nil || st.order[0].firstSeen.Before(oldest.firstSeen)) {
				oldest, oldestSt = st.order[0], st
			}
		}
		if oldest == nil {
			return
		}
		pr.decide(oldestSt, oldest, earlyMemory, oldestSt.at(now))
	}
}

// oldestPendingAge is the age of the oldest undecided submission.
func oldestPendingAge(states map[int32]*partState, now time.Time) time.Duration {
	var age time.Duration
	for _, st := range states {
		st.watermark()
		if len(st.order) > 0 {
			if a := now.Sub(st.order[0].firstSeen); a > age {
				age = a
			}
		}
	}
	return age
}

// linkTrace writes, once per trace of a pending submission, a TraceLink
// keyed by the trace id to the partition of that trace's context-only
// records, whose owner then moves them here (see link).
func (pr *processor) linkTrace(st *partState, sub *submission, sp *v1.Span, offset int64) {
	if len(sp.GetTraceId()) == 0 || sp.GetSubmission().GetSubmitId() == "" || sub.key != sp.GetSubmission().GetSubmitId() {
		return
	}
	t := hex.EncodeToString(sp.GetTraceId())
	if sub.traces[t] {
		return
	}
	if sub.traces == nil {
		sub.traces = map[string]bool{}
	}
	sub.traces[t] = true
	link := &v1.Envelope{SchemaVersion: v1.SchemaVersion, Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{
		TraceId: sp.GetTraceId(), Submission: linkSubmission(sub.merged(), sub.key)}}}
	b, err := proto.Marshal(link)
	if err != nil {
		return
	}
	pr.m.links.WithLabelValues("written").Inc()
	pr.moveExtra(st, offset, &kgo.Record{Topic: pr.rawTopic, Partition: pr.partition(t), Key: []byte(t), Value: b,
		Headers: []kgo.RecordHeader{{Key: KindHeader, Value: []byte("trace_link")}}})
}

// linkSubmission is the submission context a link carries: what is known of
// the submission, its stage left to each record.
func linkSubmission(merged *v1.Submission, key string) *v1.Submission {
	s := proto.Clone(merged).(*v1.Submission)
	s.Stage = v1.Stage_STAGE_UNSPECIFIED
	if s.SubmitId == "" {
		s.SubmitId = key
	}
	return s
}

// link takes a TraceLink read on this partition: the trace's context-only
// records pending here move to the submission's partition now, and later
// ones as they arrive (for decided_ttl).
func (pr *processor) link(st *partState, link *v1.TraceLink, offset int64, now time.Time) {
	t := hex.EncodeToString(link.GetTraceId())
	if t == "" || link.GetSubmission().GetSubmitId() == "" {
		return
	}
	pr.m.links.WithLabelValues("read").Inc()
	pr.restoreLink(st, link, offset, now)
	sub := st.subs[t]
	if sub == nil || !sub.orphan {
		return
	}
	for _, r := range sub.records {
		env, err := r.decode()
		if err != nil {
			continue // it decoded when added
		}
		pr.moveToSubmission(st, env, r.offset, offset, link.GetSubmission())
	}
	st.release(sub)
}

// restoreLink remembers a trace link read at offset (at is when it was
// written): later context-only records of the trace move to its
// submission. Recovery restores the links before the committed watermark
// with it (commit metadata l), so that a record moved by the previous owner
// is recognised as moved.
func (pr *processor) restoreLink(st *partState, link *v1.TraceLink, offset int64, at time.Time) {
	t := hex.EncodeToString(link.GetTraceId())
	sub := cloneSubmission(link.GetSubmission()) // the link may point into a raw record's value
	if old := st.links[t]; old != nil {
		old.sub, old.at, old.offset = sub, at, offset
		return
	}
	st.linkQ = append(st.linkQ, t)
	st.linkBytes += linkOverhead
	st.links[t] = &traceLink{sub: sub, at: at, offset: offset}
}

// moveToSubmission re-produces a context-only record to its submission's
// partition with the submission filled in, in the next transaction. trigger
// is the raw offset whose processing moves it (the link, or the record
// itself): a re-read below the committed metadata's x does not move it
// again.
func (pr *processor) moveToSubmission(st *partState, env *v1.Envelope, offset, trigger int64, sub *v1.Submission) {
	moved := proto.Clone(env).(*v1.Envelope)
	s := proto.Clone(sub).(*v1.Submission)
	if l := moved.GetLog(); l != nil {
		s.Stage = l.GetSubmission().GetStage()
		l.Submission = s
	} else if sp := moved.GetSpan(); sp != nil {
		s.Stage = sp.GetSubmission().GetStage()
		sp.Submission = s
	}
	b, err := proto.Marshal(moved)
	if err != nil {
		return
	}
	pr.m.links.WithLabelValues("moved").Inc()
	pr.moveExtra(st, trigger, &kgo.Record{Topic: pr.rawTopic, Partition: pr.partition(s.GetSubmitId()), Key: []byte(s.GetSubmitId()), Value: b,
		Headers: []kgo.RecordHeader{{Key: MovedFromHeader, Value: []byte(movedFromValue(st.p, offset))}}})
}

// moveExtra queues out (a record re-produced elsewhere: a moved misrouted
// or context-only record, a trace link, an undecodable record for the DLQ)
// for the next transaction, unless the raw record at trigger was already
// processed by a committed transaction that moved it (commit metadata x):
// a re-read after a restart or rebalance does not move it twice.
func (pr *processor) moveExtra(st *partState, trigger int64, out *kgo.Record) {
	if trigger < st.movedBelow {
		pr.m.recovered.Inc()
		return
	}
	st.extra = append(st.extra, out)
	st.movePending = max(st.movePending, trigger+1)
}

// isTraceOnly says whether a record carries only the trace context of its
// submission: no submit_id, keyed by its trace id.
func isTraceOnly(env *v1.Envelope, key string) bool {
	if env.Submission().GetSubmitId() != "" {
		return false
	}
	var trace []byte
	if l := env.GetLog(); l != nil {
		trace = l.GetTraceId()
	} else {
		trace = env.GetSpan().GetTraceId()
	}
	return len(trace) > 0 && hex.EncodeToString(trace) == key
}
