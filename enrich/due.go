package enrich

import (
	"container/heap"
	"time"
)

// dueQueue is a partition's deadline queue: a min-heap of times at which a
// pending submission may be due (complete plus grace, inactive, or
// max_pending_age old), so that decideDue looks only at the submissions
// whose time came instead of walking every pending one on every poll.
//
// Deadlines move as records arrive: lastSeen moves inactivity later, and
// completeAt is set, moved or cleared by spans. The queue is lazy: it
// holds, for every pending submission, at least one entry no later than
// its true deadline (dueAt). An entry is pushed when a submission starts
// (firstSeen + the smaller of inactivity_timeout and max_pending_age) and
// whenever completeAt is set; a popped entry whose submission's true
// deadline is still ahead is pushed again at that deadline, and one whose
// submission was decided meanwhile is dropped. Each entry is popped once,
// and entries are pushed at most once per span plus one per submission.
type dueQueue []dueEntry

type dueEntry struct {
	at  int64 // unix nanoseconds
	sub *submission
}

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*q = old[:len(old)-1]
	return e
}

// schedule queues sub to be looked at no later than at.
func (q *dueQueue) schedule(sub *submission, at time.Time) {
	heap.Push(q, dueEntry{at: at.UnixNano(), sub: sub})
}

// dueAt is the earliest moment sub is due: complete on evidence
// (completeAt), inactive, or max_pending_age old.
func (pr *processor) dueAt(sub *submission) time.Time {
	d := sub.lastSeen.Add(pr.cfg.InactivityTimeout)
	if age := sub.firstSeen.Add(pr.cfg.MaxPendingAge); age.Before(d) {
		d = age
	}
	if !sub.completeAt.IsZero() && sub.completeAt.Before(d) {
		d = sub.completeAt
	}
	return d
}

// popDue takes from the queue the submissions due at now, each once.
func (pr *processor) popDue(st *partState, now time.Time) []*submission {
	var due []*submission
	n := now.UnixNano()
	for len(st.due) > 0 && st.due[0].at <= n {
		sub := heap.Pop(&st.due).(dueEntry).sub
		if sub.decided || sub.dueTaken {
			continue
		}
		if d := pr.dueAt(sub); now.Before(d) {
			st.due.schedule(sub, d)
			continue
		}
		sub.dueTaken = true
		due = append(due, sub)
	}
	return due
}
