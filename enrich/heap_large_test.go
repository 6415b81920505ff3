package enrich

import (
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Records over 32 KiB (stack traces, test output): Go allocates them in
// whole 8 KiB pages, up to a quarter more than their size, not the eighth
// recordMem allowed for size classes.
func TestLimits_PendingBytesBoundTheHeapRecordsOver32KiB(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	keys, values := benchWorkload(100)
	for i, b := range values {
		var env v1.Envelope
		if err := proto.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if l := env.GetLog(); l != nil {
			l.Body = strings.Repeat("x", 33000)
		}
		values[i], _ = proto.Marshal(&env)
	}
	pr, st := newTestProcessor(t, DefaultRules())
	base := heapInUse()
	for i, v := range values {
		var env v1.Envelope
		raw, err := st.decodeOwn([]byte(keys[i]), v, &env) // as Enricher.take does
		if err != nil {
			t.Fatal(err)
		}
		pr.add(st, keys[i], &env, raw, int64(i), t0)
	}
	forgetOutput(st)
	held := heapInUse() - base
	ratio := float64(held) / float64(st.held())
	t.Logf("33 KB bodies: heap %d bytes, counted %d (%.2f)", held, st.held(), ratio)
	if held > int64(st.held()) || ratio < 0.7 {
		t.Errorf("pending submissions take %d bytes of heap, counted %d (%.2f): want between 0.7 and 1 of the count", held, st.held(), ratio)
	}
	runtime.KeepAlive(st)
	runtime.KeepAlive(values)
}
