package enrich

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// heapBound keeps the Go heap in use near twice what the enricher counts
// as held (pending_bytes) plus heapSlack, with collections of its own where
// the collector's pacing would not:
//
//   - After much of what was held was released at once (decisions forced
//     by max_pending_bytes, the end of a backlog, a partition revoked), the
//     collector (GOGC 100) keeps the released records until as much was
//     allocated again: on an idle enricher, never. The bench showed 900 MiB
//     of heap for 118 MiB of pending_bytes for the 30 s of late_window
//     after its backlog. So when what the last cycle found live is over the
//     bound and pending_bytes fell by heapSlack or more since the last
//     collection started here, one is started.
//   - At its own peaks the heap reaches twice what was live at the last
//     cycle, and what the count leaves out (fetch buffers, output waiting
//     for its transaction, the runtime) doubles too: the bench's heap
//     peaked 75 MiB above the bound. So when the heap nears the bound (its
//     last sixteenth) with a third of it garbage, and pending_bytes is at
//     least 64 MiB, a collection is started a little before the
//     collector's own would be.
//
// The collection after a release runs in check itself: the loop waits
// for it (runtime.GC: the mark, then the sweep of the whole heap; 100-140
// ms at 220 MiB live in the bench, docs/enrich.md), so the heap is
// over the bound only while it runs, and what the loop would allocate
// meanwhile does not survive it. The one near the peak runs in the
// background (the loop goes on with the window full), one at a time, with
// a second cycle at once if records were released while the first was
// marking (they survive it: pending_bytes fell by heapSlack or more
// meanwhile) and the heap is still over the bound; a release during it
// waits for it to end. check reads the heap from runtime/metrics, which
// does not stop the world.
type heapBound struct {
	samples []rtmetrics.Sample
	running atomic.Bool
	wg      sync.WaitGroup
	forced  prometheus.Counter
	// heldMax is the highest pending_bytes seen since the last
	// collection check started.
	heldMax int
	// current is the latest pending_bytes check saw, also while a
	// collection runs (the second cycle's test).
	current atomic.Int64
	// gc is runtime.GC; tests replace it.
	gc func()
}

const heapSlack = 32 << 20

func newHeapBound(forced prometheus.Counter) *heapBound {
	return &heapBound{forced: forced, gc: runtime.GC, samples: []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"}, // objects, live or not yet swept
		{Name: "/memory/classes/heap/unused:bytes"},  // free space in spans in use
		{Name: "/gc/heap/live:bytes"},                // marked live by the last cycle
	}}
}

// check starts a collection when the heap is over the bound (see
// heapBound); it says whether it did.
func (h *heapBound) check(held int) bool {
	h.current.Store(int64(held))
	if h.running.Load() {
		if h.heldMax-held < heapSlack {
			return false
		}
		// A release while a collection near the peak marks: wait for it
		// (and its second cycle), then judge by what it found live.
		h.wg.Wait()
	}
	h.heldMax = max(h.heldMax, held)
	rtmetrics.Read(h.samples)
	objects, unused, live := h.samples[0].Value.Uint64(), h.samples[1].Value.Uint64(), h.samples[2].Value.Uint64()
	inuse, bound := objects+unused, 2*uint64(held)+heapSlack
	// Released: what the last cycle found live is over the bound, and
	// pending_bytes fell by heapSlack or more since the last collection
	// started here (so a live heap the count leaves out does not start
	// cycle after cycle).
	released := inuse > bound && live > bound && h.heldMax-held >= heapSlack
	// Peak: the heap nears the bound with a third of it garbage; the
	// collector's own cycle would start later.
	peak := held >= 2*heapSlack && inuse > bound-bound/16 && objects >= live+live/2
	if !released && !peak {
		return false
	}
	h.heldMax = held
	h.forced.Inc()
	if released {
		// Synchronous: the loop allocates nothing meanwhile (what it
		// would allocate during the mark survives the cycle), and the heap
		// is over the bound only while this collection runs.
		h.gc()
		return true
	}
	h.running.Store(true)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer h.running.Store(false)
		h.gc()
		// A second cycle only for records released while the first was
		// marking (they survived it): pending_bytes fell by heapSlack or
		// more meanwhile and the heap is still over the bound. Heap the
		// count leaves out (the embedded broker in logweave dev, fetch
		// buffers) would not be freed by it.
		if now := int(h.current.Load()); held-now >= heapSlack && h.over(now) {
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
