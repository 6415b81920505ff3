package enrich

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// The deadline queue (due.go) must decide exactly when the scan over every
// pending submission did, while deadlines move as records arrive.
func TestProcessor_DecideDueFollowsMovingDeadlines(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	pr.cfg.CompletionGrace = 6 * time.Second
	pr.cfg.InactivityTimeout = 30 * time.Second
	pr.cfg.MaxPendingAge = 2 * time.Minute
	info := v1.SeverityNumber_SEVERITY_NUMBER_INFO
	var off int64
	add := func(key string, env *v1.Envelope, at time.Time) {
		t.Helper()
		pr.addEnv(st, key, env, off, 100, at)
		off++
	}
	pending := func(key string) bool { return st.subs[key] != nil }
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// GRACE: its tree closes at 0s, and a span arriving at 4s restarts
	// the grace: not due at 6s, due at 10s.
	add("GRACE", span(1, 0, "submission", v1.Stage_STAGE_UNSPECIFIED, time.Second, v1.StatusCode_STATUS_CODE_OK), at(0))
	// QUIET: one log, decided by inactivity at 30s.
	add("QUIET", logIn("q1", 0, info, "x"), at(0))
	// BUSY: a log every 10s without ever completing: inactivity never
	// fires, max_pending_age decides it at 2m, early.
	add("BUSY", logIn("b0", 0, info, "x"), at(0))
	// REOPEN: its tree closes at 0s, then a span with a missing parent
	// reopens it at 1s: the completion is cleared, inactivity decides it.
	add("REOPEN", span(1, 0, "submission", v1.Stage_STAGE_UNSPECIFIED, time.Second, v1.StatusCode_STATUS_CODE_OK), at(0))
	add("REOPEN", span(2, 9, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK), at(time.Second))
	add("GRACE", span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK), at(4*time.Second))

	steps := []struct {
		at      time.Duration
		pending map[string]bool
	}{
		{5 * time.Second, map[string]bool{"GRACE": true, "QUIET": true, "BUSY": true, "REOPEN": true}},
		{6 * time.Second, map[string]bool{"GRACE": true, "QUIET": true, "BUSY": true, "REOPEN": true}},
		{10 * time.Second, map[string]bool{"GRACE": false, "QUIET": true, "BUSY": true, "REOPEN": true}},
		{29 * time.Second, map[string]bool{"QUIET": true, "BUSY": true, "REOPEN": true}},
		{30 * time.Second, map[string]bool{"QUIET": false, "BUSY": true, "REOPEN": true}},
		{31 * time.Second, map[string]bool{"BUSY": true, "REOPEN": false}},
		{119 * time.Second, map[string]bool{"BUSY": true}},
		{120 * time.Second, map[string]bool{"BUSY": false}},
	}
	next := 10 * time.Second
	for _, s := range steps {
		for ; next <= s.at && next < 120*time.Second; next += 10 * time.Second {
			add("BUSY", logIn(fmt.Sprintf("b%d", next/time.Second), 0, info, "x"), at(next))
		}
		pr.decideDue(st, at(s.at))
		for key, want := range s.pending {
			if got := pending(key); got != want {
				t.Fatalf("at %s: %s pending %v, want %v", s.at, key, got, want)
			}
		}
	}
	if got := testutil.ToFloat64(pr.m.early.WithLabelValues("age")); got != 1 {
		t.Fatalf("early decisions by age: %v, want 1 (BUSY)", got)
	}
	if len(st.subs) != 0 {
		t.Fatalf("%d submissions still pending", len(st.subs))
	}
}

// TestProcessor_DecideDueLooksOnlyAtDue: with many submissions pending and
// none due, a poll takes nothing from the deadline queue (the scan it
// replaces walked every pending submission on every poll).
func TestProcessor_DecideDueLooksOnlyAtDue(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	for i := 0; i < 1000; i++ {
		pr.addEnv(st, fmt.Sprintf("S%d", i), logIn(fmt.Sprintf("l%d", i), 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "x"), int64(i), 100, t0)
	}
	before := len(st.due)
	for i := 1; i < 100; i++ {
		pr.decideDue(st, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	if len(st.subs) != 1000 || len(st.due) != before {
		t.Fatalf("%d pending, %d queued (was %d): polls before any deadline touched the queue", len(st.subs), len(st.due), before)
	}
	pr.decideDue(st, t0.Add(pr.cfg.InactivityTimeout))
	if len(st.subs) != 0 || len(st.due) != 0 {
		t.Fatalf("after inactivity_timeout: %d pending, %d queued", len(st.subs), len(st.due))
	}
}
