package enrich

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

type kgoRecord = kgo.Record

// processor holds the join and sampling logic; it works on partStates and
// knows nothing of Kafka.
type processor struct {
	cfg      Config
	rules    atomic.Pointer[Rules]
	rawTopic string
	m        *metrics
}

// add takes one raw record of partition st at offset.
func (pr *processor) add(st *partState, key string, env *v1.Envelope, offset int64, size int, now time.Time) {
	if offset+1 > st.head {
		st.head = offset + 1
	}
	pr.m.recordsIn.WithLabelValues(env.Kind()).Inc()
	if st.emitted[env.GetRecordId()] {
		// Already out before a restart or rebalance: the recovery scan
		// found it in the enriched partition.
		pr.m.recovered.Inc()
		return
	}
	if dec := st.done[key]; dec != nil {
		pr.late(st, key, dec, env, offset, now)
		return
	}
	sub := st.subs[key]
	if sub == nil {
		sub = &submission{key: key, firstOffset: offset, spans: map[string]*v1.Span{}, firstSeen: now}
		st.subs[key] = sub
		st.order = append(st.order, sub)
	}
	mem := recordMem(size)
	sub.records = append(sub.records, pendingRecord{env: env, offset: offset, size: size})
	sub.bytes += mem
	st.bytes += mem
	sub.lastSeen = now
	if sp := env.GetSpan(); sp != nil {
		sub.spans[spanKey(sp.GetSpanId())] = sp
		if isCompletion(sp) && sub.completeAt.IsZero() {
			sub.completeAt = now.Add(pr.cfg.CompletionGrace)
		}
	}
}

// decideDue decides the submissions that completed, went quiet, or have
// been pending for max_pending_age (decided early: a submission that keeps
// receiving records must not pin the watermark and memory for ever).
func (pr *processor) decideDue(st *partState, now time.Time) {
	type dueSub struct {
		sub   *submission
		cause earlyCause
	}
	var due []dueSub
	for _, sub := range st.subs {
		switch {
		case !sub.completeAt.IsZero() && !now.Before(sub.completeAt) || now.Sub(sub.lastSeen) >= pr.cfg.InactivityTimeout:
			due = append(due, dueSub{sub, notEarly})
		case now.Sub(sub.firstSeen) >= pr.cfg.MaxPendingAge:
			due = append(due, dueSub{sub, earlyAge})
		}
	}
	// In offset order, so output order follows the input.
	sort.Slice(due, func(i, j int) bool { return due[i].sub.firstOffset < due[j].sub.firstOffset })
	for _, d := range due {
		pr.decide(st, d.sub, d.cause, now)
	}
	pr.expire(st, now, 0)
}

// expire forgets decisions older than DecidedTTL, and the oldest ones
// while the decisions take more than maxBytes (when positive).
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
}

// decide keeps or drops a whole submission and queues its kept records.
// The submission's records are released: only the decision is remembered.
func (pr *processor) decide(st *partState, sub *submission, early earlyCause, now time.Time) {
	rules := pr.rules.Load()
	merged := &v1.Submission{}
	for _, r := range sub.records {
		if r.env.GetSpan() != nil {
			mergeSubmission(merged, r.env.Submission())
		}
	}
	for _, r := range sub.records {
		mergeSubmission(merged, r.env.Submission())
	}
	ctxs := make(map[string]*v1.SpanContext, len(sub.spans))
	for k, sp := range sub.spans {
		ctxs[k] = spanContext(sp, v1.JoinStatus_JOIN_STATUS_SELF)
	}
	tail := ""
	for _, r := range sub.records {
		sc := joinContext(r.env, ctxs)
		if name, ok := rules.TailMatch(&recordEnv{env: r.env, span: sc, sub: recordSubmission(merged, r.env, sc)}); ok {
			tail = name
			break
		}
	}
	dec := &decision{keptBy: tail, early: early, spans: ctxs, sub: merged, at: now}
	mark := &emitMark{enriched: -1}
	for _, r := range sub.records {
		if r.offset > mark.maxRaw {
			mark.maxRaw = r.offset
		}
	}
	emitted := pr.emitAll(st, sub.key, dec, sub.records, mark, rules, now)
	if emitted > 0 {
		st.marks = append(st.marks, mark)
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
	if old := st.done[sub.key]; old != nil {
		st.decidedBytes -= old.bytes
	}
	dec.bytes = dec.mem()
	st.decidedBytes += dec.bytes
	st.done[sub.key] = dec
	st.doneQ = append(st.doneQ, sub.key)
	delete(st.subs, sub.key)
	sub.decided = true
	sub.records, sub.spans = nil, nil
	st.bytes -= sub.bytes
	st.decidedInOrder++
	st.compactOrder()
}

// emitAll queues the kept records of a decision and returns how many.
func (pr *processor) emitAll(st *partState, key string, dec *decision, recs []pendingRecord, mark *emitMark, rules *Rules, now time.Time) int {
	u := sampleHash(key)
	n := 0
	for _, r := range recs {
		sc := joinContext(r.env, dec.spans)
		keptBy, rate, ok := dec.keep(r.env, u, rules)
		if !ok {
			pr.m.recordsDropped.WithLabelValues(r.env.Kind()).Inc()
			continue
		}
		if r.env.GetLog() != nil {
			if sc.GetJoin() == v1.JoinStatus_JOIN_STATUS_JOINED {
				pr.m.join.WithLabelValues("hit").Inc()
			} else {
				pr.m.join.WithLabelValues("miss").Inc()
			}
		}
		er := &v1.EnrichedRecord{
			SchemaVersion: v1.SchemaVersion, RecordId: r.env.GetRecordId(), Record: r.env, Span: sc,
			Submission:         recordSubmission(dec.sub, r.env, sc),
			Sampling:           &v1.Sampling{KeptBy: keptBy, Rate: rate, SampleWeight: 1 / rate},
			Source:             &v1.SourcePosition{Topic: pr.rawTopic, Partition: st.p, Offset: r.offset},
			EnrichedAtUnixNano: uint64(now.UnixNano()),
		}
		st.out = append(st.out, output{rec: er, key: key, mark: mark})
		pr.m.recordsOut.WithLabelValues(r.env.Kind()).Inc()
		n++
	}
	return n
}

// keep applies a decision to one record: the whole submission for a tail
// rule, else the head rate of the record's level and service.
func (dec *decision) keep(env *v1.Envelope, u float64, rules *Rules) (keptBy string, rate float64, ok bool) {
	prefix := dec.early.prefix()
	if dec.keptBy != "" {
		return prefix + dec.keptBy, 1, true
	}
	rate = rules.HeadRate(levelRank(env), env.Service())
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

// late handles a record of an already decided submission: it follows the
// decision, joined with the spans known then (a late span joins later
// records too).
func (pr *processor) late(st *partState, key string, dec *decision, env *v1.Envelope, offset int64, now time.Time) {
	pr.m.late.Inc()
	if sp := env.GetSpan(); sp != nil {
		dec.spans[spanKey(sp.GetSpanId())] = spanContext(sp, v1.JoinStatus_JOIN_STATUS_SELF)
		st.decidedBytes -= dec.bytes
		dec.bytes = dec.mem()
		st.decidedBytes += dec.bytes
	}
	mergeSubmission(dec.sub, env.Submission())
	mark := &emitMark{maxRaw: offset, enriched: -1}
	if pr.emitAll(st, key, dec, []pendingRecord{{env: env, offset: offset}}, mark, pr.rules.Load(), now) > 0 {
		st.marks = append(st.marks, mark)
	}
}

// enforceLimits keeps the estimated heap of all partitions within
// max_pending_bytes and the undecided submissions within
// max_pending_submissions: remembered decisions may take at most a quarter
// of the bytes (the oldest are forgotten first), then the oldest
// submissions are decided early.
func (pr *processor) enforceLimits(states map[int32]*partState, now time.Time) {
	decidedMax := pr.cfg.MaxPendingBytes / 4
	decided := 0
	for _, st := range states {
		decided += st.decidedBytes
	}
	if decided > decidedMax {
		for _, st := range states {
			// Each partition gets its share of the quarter.
			pr.expire(st, now, decidedMax/len(states))
		}
	}
	for {
		n, bytes := 0, 0
		for _, st := range states {
			n += len(st.subs)
			bytes += st.held()
		}
		pr.m.pendingSubs.Set(float64(n))
		pr.m.pendingBytes.Set(float64(bytes))
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
		pr.decide(oldestSt, oldest, earlyMemory, now)
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
