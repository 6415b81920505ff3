package enrich

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// heapBound collects the garbage of records released in bulk. Between two
// garbage collections the Go heap grows to twice what was live at the last
// one (GOGC 100), so after much of what the enricher held was released at
// once (decisions forced by max_pending_bytes, the end of a backlog, a
// partition revoked) the heap keeps the released records until the next
// cycle, which comes only once as much was allocated again: on an idle
// enricher, never. The bench showed 900 MiB of heap in use for 118 MiB of
// pending_bytes for the 30 s of late_window after its backlog.
//
// check, called once per loop turn with pending_bytes, starts a collection
// in the background when pending_bytes fell to less than half of what it
// was at the last cycle, by at least heapSlack, and the heap in use is
// above twice pending_bytes plus heapSlack. It runs a second cycle at once
// if the first left the heap above that (records released while the first
// was marking survive it). In steady state (pending_bytes near its limit,
// or growing) it does nothing: forced cycles cost as much as the GC's own,
// and they are only worth it when a large part of the heap just became
// garbage. It reads the heap from runtime/metrics, which does not stop the
// world.
type heapBound struct {
	samples []rtmetrics.Sample
	running atomic.Bool
	wg      sync.WaitGroup
	forced  prometheus.Counter
	// cycles is the GC cycle count last seen, heldAtCycle pending_bytes
	// then.
	cycles      uint64
	heldAtCycle int
	// gc is runtime.GC; tests replace it.
	gc func()
}

const heapSlack = 32 << 20

func newHeapBound(forced prometheus.Counter) *heapBound {
	return &heapBound{forced: forced, gc: runtime.GC, samples: []rtmetrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}}
}

// check starts a collection when pending_bytes (held) fell by more than
// half since the last cycle and the heap is over twice it plus heapSlack;
// it says whether it did.
func (h *heapBound) check(held int) bool {
	if h.running.Load() {
		return false
	}
	rtmetrics.Read(h.samples)
	if c := h.samples[0].Value.Uint64(); c != h.cycles {
		h.cycles, h.heldAtCycle = c, held
		return false
	}
	h.heldAtCycle = max(h.heldAtCycle, held)
	if held*2 >= h.heldAtCycle || h.heldAtCycle-held < heapSlack || !h.over(held) {
		return false
	}
	h.running.Store(true)
	h.forced.Inc()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer h.running.Store(false)
		h.gc()
		if h.over(held) {
			h.gc()
		}
	}()
	return true
}

// over says whether the heap in use is above twice held plus heapSlack.
func (h *heapBound) over(held int) bool {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()+s[1].Value.Uint64() > 2*uint64(held)+heapSlack
}

// wait waits for a collection check started.
func (h *heapBound) wait() { h.wg.Wait() }
