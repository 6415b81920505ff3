package enrich

import (
	"runtime"
	"strings"
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

// The pending bytes follow the real memory (issues 11.4 and 16): with
// thousands of submissions pending, the Go heap they take is within what
// logweave_enrich_pending_bytes counts and not far below it (a count far
// above the heap would let the heap exceed twice the count in other
// workloads' proportions), also when every record came from a fetch
// buffer of its own (a held record must not pin it); and once they are
// decided and flushed the heap falls back to the counted bookkeeping of
// the decisions.
func TestLimits_PendingBytesBoundTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	keys, values := benchWorkload(1000) // 29,000 records
	large := make([][]byte, len(values))
	for i, b := range values {
		var env v1.Envelope
		if err := proto.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if l := env.GetLog(); l != nil {
			l.Body = strings.Repeat("judge output ", 80)
		}
		large[i], _ = proto.Marshal(&env)
	}
	for _, c := range []struct {
		name   string
		values [][]byte
		fetch  int // bytes of the fetch buffer each record is read from
	}{
		{"gen workload", values, 0},
		{"1 KiB bodies", large, 0},
		{"from fetch buffers", values, 64 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr, st := newTestProcessor(t, DefaultRules())
			base := heapInUse()
			for i, v := range c.values {
				if c.fetch > 0 {
					buf := make([]byte, c.fetch)
					v = buf[100 : 100+copy(buf[100:], v)]
				}
				var env v1.Envelope
				raw, err := ownDecode(v, &env) // as Enricher.take does
				if err != nil {
					t.Fatal(err)
				}
				// Not complete yet: everything stays pending.
				pr.add(st, keys[i], &env, raw, int64(i), t0)
			}
			// Submissions a tail rule keeps stream out: flushed.
			st.out, st.outBuf = nil, nil
			held := heapInUse() - base
			ratio := float64(held) / float64(st.held())
			t.Logf("pending: heap %d bytes, counted %d (%.2f)", held, st.held(), ratio)
			if held > int64(st.held()) || ratio < 0.7 {
				t.Errorf("pending submissions take %d bytes of heap, counted %d: want between 0.7 and 1 of the count", held, st.held())
			}
			pr.decideDue(st, t0.Add(time.Hour))
			st.out, st.extra, st.outBuf = nil, nil, nil // flushed
			st.watermark()
			after := heapInUse() - base
			t.Logf("decided: heap %d bytes, counted %d", after, st.held())
			if after > int64(st.held())+1<<20 {
				t.Errorf("after every submission was decided %d bytes of heap remain, counted %d", after, st.held())
			}
			runtime.KeepAlive(st)
		})
	}
	runtime.KeepAlive(keys)
	runtime.KeepAlive(values)
	runtime.KeepAlive(large)
}
