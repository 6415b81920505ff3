package enrich

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The read clock.
//
// A submission's deadlines (completion_grace after its span tree closed,
// inactivity_timeout, max_pending_age, late_window) are measured on its
// partition's read clock, not on the wall clock: how far in time the
// partition has been read. A member that stalls (a broker restart, a
// rebalance, a slow recovery, too little CPU) or reads a backlog must not
// decide a submission whose later records it has not read yet: a chaos run
// at 300 submissions/s showed it doing so during a broker restart, 6 s of
// wall clock passing with nothing read, and the submissions' failing spans,
// read later, could then only upgrade them (and a new owner could not).
//
// The clock of a partition is the later of two times, never past the wall
// clock: the newest record timestamp read from it (Kafka's CreateTime, set
// by ingest when it produces), and the last moment the partition was known
// to be read to its end (its last stable offset, asked every
// probeInterval while the loop runs). A member that keeps up moves with
// the wall clock, at most probeInterval behind when the partition is idle;
// a member behind moves with the records it reads; a member that cannot
// read stands still.
const probeInterval = 500 * time.Millisecond

// readEnds is the last answer of the end probe: each raw partition's last
// stable offset, asked at the time at.
type readEnds struct {
	at   time.Time
	ends map[int32]int64
}

// probeEnds asks the raw partitions' last stable offsets every
// probeInterval until ctx is done, and leaves the answer in e.ends: the
// partitions listed without error (a partition left out keeps its clock).
func (e *Enricher) probeEnds(ctx context.Context) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		at := e.now() // before asking: the ends are at least this recent
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		listed, err := e.listEnds(qctx)
		cancel()
		// A partial answer (*kadm.ShardErrors: a broker that cannot
		// answer) still holds the ends of the partitions it lists.
		var shardErrs *kadm.ShardErrors
		if err == nil || errors.As(err, &shardErrs) {
			ends := map[int32]int64{}
			listed.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					ends[o.Partition] = o.Offset
				}
			})
			e.endsMu.Lock()
			e.ends = readEnds{at: at, ends: ends}
			e.endsMu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// applyEnds moves the clock of every partition read to its end as of the
// last probe to the probe's time. A bounded run's partition ends at its
// bound (boundEnd) at the latest: its head stops there, and the marker of
// the run's own last write to its raw topic lies past it.
func (e *Enricher) applyEnds() {
	e.endsMu.Lock()
	re := e.ends
	e.endsMu.Unlock()
	for p, st := range e.states {
		end, ok := re.ends[p]
		if !ok {
			continue
		}
		if _, bounded := e.until[p]; bounded {
			end = min(end, e.boundEnd(p))
		}
		if st.head >= end && re.at.After(st.readTo) {
			st.readTo = re.at
		}
	}
}

// observe moves the partition's clock to a record's timestamp read at
// wall time now. Records without one (or from before 2001) do not move it,
// nor do records from a producer whose clock runs ahead (a timestamp past
// now): kept, one such record would hold the clock at the wall clock for
// the rest of this member's ownership, deciding on the wall clock again.
func (st *partState) observe(ts, now time.Time) {
	if ts.Unix() > 978307200 && !ts.After(now) && ts.After(st.newest) {
		st.newest = ts
	}
}

// clock is the partition's read clock at wall time now (see above); it
// never goes back.
func (st *partState) clock(now time.Time) time.Time {
	c := st.newest
	if st.readTo.After(c) {
		c = st.readTo
	}
	if c.IsZero() {
		// Nothing usable read yet (records without timestamps on a
		// partition not yet read to its end): the wall clock, as before
		// the read clock.
		c = now
	}
	if c.After(now) {
		c = now
	}
	if c.After(st.now) {
		st.now = c
	}
	return st.now
}

// lateHold keeps a head-sampled submission's first offset as the commit
// watermark's bound until a time on the partition's clock (late_window).
type lateHold struct {
	first int64
	until time.Time
}

// hold adds a late hold. st.holds is kept as a sliding-window minimum:
// first offsets rise from front to back, and so do the end times (holds
// come in decision order on a clock that never goes back), so a hold whose
// first offset is not below a newer one's can never be the lowest again
// and is dropped: the front is always the lowest running hold, and the
// watermark needs no scan (the gen workload holds thousands per partition).
func (st *partState) hold(first int64, until time.Time) {
	for len(st.holds) > 0 && st.holds[len(st.holds)-1].first >= first {
		st.holds = st.holds[:len(st.holds)-1]
	}
	st.holds = append(st.holds, lateHold{first: first, until: until})
}

// holdFrom is the lowest first offset of the late holds still running at
// the partition's clock, or -1; expired holds are dropped.
func (st *partState) holdFrom() int64 {
	i := 0
	for i < len(st.holds) && !st.holds[i].until.After(st.now) {
		i++
	}
	st.holds = st.holds[i:]
	if len(st.holds) == 0 {
		return -1
	}
	return st.holds[0].first
}

// endsState is the enricher's share of the end probe.
type endsState struct {
	endsMu sync.Mutex
	ends   readEnds
	// listEnds asks the raw partitions' last stable offsets (a test
	// replaces it to stand for a broker that cannot answer).
	listEnds func(context.Context) (kadm.ListedOffsets, error)
}
