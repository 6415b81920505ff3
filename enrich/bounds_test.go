package enrich

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Regression (issue 11.4): a submission that keeps receiving records used to
// stay pending for ever: the watermark stayed at its first offset, every
// submission decided behind it stayed referenced with all its raw records,
// and pending_bytes counted only the undecided ones. An hour of traffic in
// fake time: the long submission is decided by max_pending_age, the
// watermark never lags more than that, decided records are released, and
// what is held is what is counted.
func TestProcessor_LongSubmissionBoundedByPendingAge(t *testing.T) {
	rules := DefaultRules()
	rules.Head.Levels["info"] = 1 // the long submission's records are kept by head sampling
	pr, st := newTestProcessor(t, rules)
	pr.cfg.MaxPendingAge = 2 * time.Minute
	states := map[int32]*partState{0: st}
	var (
		off      int64
		firstAt  []int64 // first offset of each second
		longKept []string
	)
	add := func(key string, env *v1.Envelope, now time.Time) {
		pr.addEnv(st, key, env, off, 200, now)
		off++
	}
	for sec := 0; sec < 3600; sec++ {
		now := t0.Add(time.Duration(sec) * time.Second)
		firstAt = append(firstAt, off)
		if sec%10 == 0 {
			add("LONG", logIn(fmt.Sprintf("long-%d", sec), 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "still judging"), now)
		}
		k := fmt.Sprintf("S%d", sec)
		for i := 0; i < 3; i++ {
			add(k, logIn(fmt.Sprintf("%s-l%d", k, i), 1, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "x"), now)
		}
		add(k, span(1, 0, "submission", v1.Stage_STAGE_UNSPECIFIED, time.Second, v1.StatusCode_STATUS_CODE_OK), now)
		pr.decideDue(st, now)
		pr.enforceLimits(states, now)
		for _, o := range st.out {
			if strings.HasPrefix(o.rec().GetRecordId(), "long-") {
				longKept = append(longKept, o.rec().GetSampling().GetKeptBy())
			}
		}
		st.out = st.out[:0] // flushed

		// The watermark lags at most max_pending_age (plus the second
		// of the decision) behind the newest traffic.
		if lagSec := int((pr.cfg.MaxPendingAge + 2*time.Second) / time.Second); sec > lagSec {
			if wm := st.watermark(); wm < firstAt[sec-lagSec] {
				t.Fatalf("at %ds the watermark is at %d, older than %ds of traffic (offset %d)", sec, wm, lagSec, firstAt[sec-lagSec])
			}
		}
		// Only undecided submissions hold records, and they are all
		// counted.
		held, counted := 0, 0
		for _, sub := range st.order {
			held += len(sub.records)
			if !sub.decided {
				counted += submissionOverhead + len(sub.spans)*spanOverhead
				for _, r := range sub.records {
					counted += r.mem()
				}
			}
		}
		if pending := pendingRecords(st); held != pending {
			t.Fatalf("at %ds order references %d records, but only %d belong to undecided submissions", sec, held, pending)
		}
		if st.bytes != counted {
			t.Fatalf("at %ds pending bytes %d, the held records count %d", sec, st.bytes, counted)
		}
		if len(st.order) > 2*len(st.subs)+64 {
			t.Fatalf("at %ds order holds %d entries for %d pending submissions", sec, len(st.order), len(st.subs))
		}
	}
	if len(longKept) == 0 || !strings.HasPrefix(longKept[0], "early:age:") {
		t.Errorf("the long submission's records were kept by %v, want early:age:<rule> first", longKept)
	}
	// Everything decided: nothing but the remembered decisions is held,
	// and they are counted.
	end := t0.Add(2 * time.Hour)
	pr.decideDue(st, end)
	if len(st.subs) != 0 || st.bytes != 0 {
		t.Errorf("after everything is decided: %d pending, %d bytes", len(st.subs), st.bytes)
	}
	decided := 0
	for _, d := range st.done {
		decided += d.mem()
	}
	if st.decidedBytes != decided {
		t.Errorf("decided bytes %d, the remembered decisions count %d", st.decidedBytes, decided)
	}
}

func pendingRecords(st *partState) int {
	n := 0
	for _, sub := range st.subs {
		n += len(sub.records)
	}
	return n
}

// Remembered decisions take at most a quarter of max_pending_bytes: the
// oldest are forgotten first, and the total held stays within the limit.
func TestLimits_DecisionsCountedAndBounded(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	pr.cfg.MaxPendingBytes = 1 << 20
	states := map[int32]*partState{0: st}
	now := t0
	for i := 0; i < 20000; i++ {
		now = now.Add(10 * time.Millisecond)
		k := fmt.Sprintf("S%d", i)
		pr.addEnv(st, k, span(1, 0, "submission", v1.Stage_STAGE_UNSPECIFIED, time.Second, v1.StatusCode_STATUS_CODE_OK), int64(i), 100, now)
		pr.decideDue(st, now.Add(pr.cfg.CompletionGrace))
		pr.enforceLimits(states, now)
		st.out = st.out[:0]
		if st.held() > pr.cfg.MaxPendingBytes {
			t.Fatalf("after %d submissions %d bytes held, limit %d", i, st.held(), pr.cfg.MaxPendingBytes)
		}
	}
	if st.decidedBytes > pr.cfg.MaxPendingBytes/4 {
		t.Errorf("decisions take %d bytes, more than a quarter of %d", st.decidedBytes, pr.cfg.MaxPendingBytes)
	}
	if len(st.done) == 0 || len(st.done) == 20000 {
		t.Errorf("%d decisions remembered: want the newest, not none and not all", len(st.done))
	}
}
