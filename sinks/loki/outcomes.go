package loki

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxUnknown bounds the record ids kept after unknown outcomes. Records
// retried here come back within the retry backoff; ids of records that
// never come back (their partition moved to another member) would
// otherwise accumulate. Past the bound, re-pushes go uncounted.
const maxUnknown = 1 << 16

// unknownOutcomes remembers the records of pushes whose outcome the sink
// could not know (Loki may have stored them), so that pushing one of them
// again is counted: Loki merges the two copies in log queries, but metric
// queries count both when they landed in different chunks or blocks.
type unknownOutcomes struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// add records the entries of a push with an unknown outcome.
func (u *unknownOutcomes) add(es []entry) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ids == nil {
		u.ids = map[string]struct{}{}
	}
	for _, e := range es {
		if len(u.ids) >= maxUnknown {
			return
		}
		// Cloned: e.id points into the fetched record (sinks.Record),
		// which this map outlives.
		u.ids[strings.Clone(e.id)] = struct{}{}
	}
}

// pushing counts the entries about to be pushed again after an unknown
// outcome and forgets them.
func (u *unknownOutcomes) pushing(es []entry, repushed prometheus.Counter) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.ids) == 0 {
		return
	}
	for _, e := range es {
		if _, ok := u.ids[e.id]; ok {
			delete(u.ids, e.id)
			repushed.Inc()
		}
	}
}
