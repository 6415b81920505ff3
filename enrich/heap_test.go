package enrich

import (
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// The pending bytes bound the real memory (issue 11.4): with thousands of
// submissions pending, the Go heap they take is within what
// logweave_enrich_pending_bytes counts, and once they are decided and
// flushed the heap falls back to the counted bookkeeping of the decisions.
func TestLimits_PendingBytesBoundTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	keys, values := benchWorkload(1000) // 29,000 records
	pr, st := newTestProcessor(t, DefaultRules())
	base := heapInUse()
	for i := range values {
		var env v1.Envelope
		if err := proto.Unmarshal(values[i], &env); err != nil {
			t.Fatal(err)
		}
		// Not complete yet: everything stays pending.
		pr.add(st, keys[i], &env, int64(i), len(values[i]), t0)
	}
	held := heapInUse() - base
	t.Logf("pending: heap %d bytes, counted %d (%.2f)", held, st.held(), float64(held)/float64(st.held()))
	if held > int64(st.held()) {
		t.Errorf("pending submissions take %d bytes of heap, more than the %d counted", held, st.held())
	}
	pr.decideDue(st, t0.Add(time.Hour))
	st.out, st.extra = nil, nil // flushed
	st.watermark()
	after := heapInUse() - base
	t.Logf("decided: heap %d bytes, counted %d", after, st.held())
	if after > int64(st.held())+1<<20 {
		t.Errorf("after every submission was decided %d bytes of heap remain, counted %d", after, st.held())
	}
	runtime.KeepAlive(keys)
	runtime.KeepAlive(values)
}
