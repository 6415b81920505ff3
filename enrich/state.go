package enrich

import (
	"encoding/hex"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// pendingRecord is a raw record held until its submission is decided.
type pendingRecord struct {
	env    *v1.Envelope
	offset int64
	size   int
}

// submission is the state of one undecided submission.
type submission struct {
	key         string
	firstOffset int64
	records     []pendingRecord
	spans       map[string]*v1.Span // by span id (hex)
	bytes       int
	firstSeen   time.Time
	lastSeen    time.Time
	completeAt  time.Time // zero until the root or feedback span arrived
	decided     bool
}

// Memory estimates. Decoded protobuf records take several times their
// wire size (measured: 638 bytes of heap for a 119-byte record of the gen
// workload), so the limits count an estimate of the heap, not wire bytes.
const (
	recordOverhead   = 512 // per held record: structs, slices, map entries
	decisionOverhead = 256 // per remembered decision
	spanCtxOverhead  = 320 // per span context of a remembered decision
	orderOverhead    = 64  // per decided submission still in order
)

// recordMem is the heap a held raw record of size wire bytes is counted as.
func recordMem(size int) int { return 2*size + recordOverhead }

// mem is the heap a remembered decision is counted as.
func (d *decision) mem() int { return decisionOverhead + len(d.spans)*spanCtxOverhead }

// decision is what was decided for a submission, kept for records that
// arrive after the decision.
type decision struct {
	keptBy string // tail rule, or "" for head sampling
	early  earlyCause
	spans  map[string]*v1.SpanContext
	sub    *v1.Submission
	at     time.Time
	bytes  int // counted in partState.decidedBytes
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
// early cause and the rule ("" for head sampling).
func parseKeptBy(keptBy string) (earlyCause, string) {
	cause := notEarly
	if rest, ok := strings.CutPrefix(keptBy, "early:"); ok {
		cause, keptBy = earlyMemory, rest
		if rest, ok := strings.CutPrefix(keptBy, "age:"); ok {
			cause, keptBy = earlyAge, rest
		}
	}
	if strings.HasPrefix(keptBy, "head:") {
		keptBy = ""
	}
	return cause, keptBy
}

// output is an enriched record ready to produce, with the submission it
// belongs to (for the enriched-offset bookkeeping).
type output struct {
	rec  *v1.EnrichedRecord
	key  string
	mark *emitMark
}

// partState is everything the enricher holds for one raw partition. It is
// owned by the enricher's loop; nothing else touches it.
type partState struct {
	p     int32
	topic string
	subs  map[string]*submission
	order []*submission // by first offset; decided ones removed lazily
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
	// the raw records are read again.
	emitted map[string]bool
	// recovered are the marks rebuilt from the enriched partition, by key.
	recovered map[string]*emitMark
	// marks records, in emission order, the enriched offset of the first
	// record of each emitted submission and the highest raw offset it
	// covered, to compute the offset-commit metadata.
	marks        []*emitMark
	enrichedNext int64
	committed    int64 // last committed raw offset (the watermark)
	out          []output
	// extra are raw records re-produced to their right partition
	// (misrouted) and undecodable records bound for the DLQ, written in
	// the same transaction.
	extra []*kgoRecord
}

type emitMark struct {
	maxRaw   int64
	enriched int64 // set once the record is produced; -1 before
}

func newPartState(topic string, p int32, committed, enrichedNext int64) *partState {
	return &partState{p: p, topic: topic, subs: map[string]*submission{}, done: map[string]*decision{},
		emitted: map[string]bool{}, recovered: map[string]*emitMark{}, head: committed, committed: committed, enrichedNext: enrichedNext}
}

// held is the estimated heap the partition holds: records of undecided
// submissions, remembered decisions and decided entries of order.
func (st *partState) held() int { return st.bytes + st.decidedBytes + st.decidedInOrder*orderOverhead }

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
	if len(st.order) > 0 {
		return st.order[0].firstOffset
	}
	return st.head
}

// commitMetadata is the metadata committed with watermark wm.
func (st *partState) commitMetadata(wm int64) commitMeta {
	return commitMeta{scanFrom: st.scanFrom(wm), enrichedEnd: st.enrichedNext, movedBelow: max(st.movedBelow, st.movePending)}
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
func spanContext(sp *v1.Span, join v1.JoinStatus) *v1.SpanContext {
	var dur int64
	if sp.GetEndTimeUnixNano() >= sp.GetStartTimeUnixNano() {
		dur = int64(sp.GetEndTimeUnixNano() - sp.GetStartTimeUnixNano())
	}
	stage := sp.GetSubmission().GetStage()
	if stage == v1.Stage_STAGE_UNSPECIFIED {
		stage = stageFromName(sp.GetName())
	}
	return &v1.SpanContext{
		Join: join, SpanId: sp.GetSpanId(), ParentSpanId: sp.GetParentSpanId(), Name: sp.GetName(), Stage: stage,
		Service: sp.GetService(), StartTimeUnixNano: sp.GetStartTimeUnixNano(), DurationNanos: dur,
		Status: sp.GetStatus().GetCode(), StatusMessage: sp.GetStatus().GetMessage(),
	}
}

func stageFromName(name string) v1.Stage {
	switch name {
	case "compile":
		return v1.Stage_STAGE_COMPILE
	case "judge":
		return v1.Stage_STAGE_JUDGE
	case "score":
		return v1.Stage_STAGE_SCORE
	case "feedback":
		return v1.Stage_STAGE_FEEDBACK
	}
	return v1.Stage_STAGE_UNSPECIFIED
}

// isCompletion says whether a span ends its submission: a root span, or
// the span of the final feedback stage.
func isCompletion(sp *v1.Span) bool {
	return len(sp.GetParentSpanId()) == 0 || sp.GetSubmission().GetStage() == v1.Stage_STAGE_FEEDBACK || sp.GetName() == "feedback"
}

// mergeSubmission fills empty fields of dst from src.
func mergeSubmission(dst, src *v1.Submission) {
	if src == nil {
		return
	}
	if dst.SubmitId == "" {
		dst.SubmitId = src.SubmitId
	}
	if dst.UserId == "" {
		dst.UserId = src.UserId
	}
	if dst.ProblemId == "" {
		dst.ProblemId = src.ProblemId
	}
	if dst.SubmissionSeq == nil && src.SubmissionSeq != nil {
		v := *src.SubmissionSeq
		dst.SubmissionSeq = &v
	}
	if dst.Lang == "" {
		dst.Lang = src.Lang
	}
}

func spanKey(id []byte) string { return hex.EncodeToString(id) }

// recordSubmission is the submission context of one record: the merged
// context of its submission, with the record's own stage (or its span's).
func recordSubmission(merged *v1.Submission, env *v1.Envelope, sc *v1.SpanContext) *v1.Submission {
	s := proto.Clone(merged).(*v1.Submission)
	s.Stage = env.Submission().GetStage()
	if s.Stage == v1.Stage_STAGE_UNSPECIFIED && sc != nil {
		s.Stage = sc.GetStage()
	}
	return s
}
