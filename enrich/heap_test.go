package enrich

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

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
				raw, err := st.decodeOwn([]byte(keys[i]), v, &env) // as Enricher.take does
				if err != nil {
					t.Fatal(err)
				}
				// Not complete yet: everything stays pending.
				pr.add(st, keys[i], &env, raw, int64(i), t0)
			}
			// Submissions a tail rule keeps stream out: flushed.
			forgetOutput(st)
			held := heapInUse() - base
			ratio := float64(held) / float64(st.held())
			t.Logf("pending: heap %d bytes, counted %d (%.2f)", held, st.held(), ratio)
			if held > int64(st.held()) || ratio < 0.7 {
				t.Errorf("pending submissions take %d bytes of heap, counted %d: want between 0.7 and 1 of the count", held, st.held())
			}
			pr.decideDue(st, t0.Add(time.Hour))
			forgetOutput(st) // flushed
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

// Logs arrive before their span (the OpenTelemetry SDKs export logs at
// once and spans in 5 s batches): while they wait, each keeps its decoded
// form, counted as twice its wire size plus 640 (decodedMem). Since
// records are decoded without copying their strings (ownDecode), the
// decoded form's strings point into the raw copy and take no heap of
// their own, so the count must still follow the heap (0.7 to 1 of it, as
// for the other workloads).
func TestLimits_PendingBytesBoundTheHeapLogsWaitingForSpans(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	keys, values := benchWorkload(1000)
	var lkeys []string
	var logs [][]byte
	for i, b := range values {
		var env v1.Envelope
		if err := proto.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		l := env.GetLog()
		if l == nil {
			continue // the spans have not arrived yet
		}
		l.Body = strings.Repeat("judge output ", 80)
		v, _ := proto.Marshal(&env)
		lkeys, logs = append(lkeys, keys[i]), append(logs, v)
	}
	pr, st := newTestProcessor(t, DefaultRules())
	base := heapInUse()
	for i, v := range logs {
		var env v1.Envelope
		raw, err := st.decodeOwn([]byte(lkeys[i]), v, &env) // as Enricher.take does
		if err != nil {
			t.Fatal(err)
		}
		pr.add(st, lkeys[i], &env, raw, int64(i), t0)
	}
	forgetOutput(st)
	held := heapInUse() - base
	ratio := float64(held) / float64(st.held())
	t.Logf("logs waiting for their spans: heap %d bytes, counted %d (%.2f)", held, st.held(), ratio)
	if held > int64(st.held()) || ratio < 0.7 {
		t.Errorf("pending submissions take %d bytes of heap, counted %d (%.2f): want between 0.7 and 1 of the count", held, st.held(), ratio)
	}
	runtime.KeepAlive(st)
	runtime.KeepAlive(logs)
}

// The same with logs carrying many small attributes (what OpenTelemetry
// log bridges add: code.*, thread.*, http.*): their decoded form is a
// message per attribute, several times their wire size, so a count of
// twice the wire size falls short of the heap.
func TestLimits_PendingBytesBoundTheHeapAttributeLogsWaitingForSpans(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	keys, values := benchWorkload(1000)
	var lkeys []string
	var logs [][]byte
	for i, b := range values {
		var env v1.Envelope
		if err := proto.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		l := env.GetLog()
		if l == nil {
			continue // the spans have not arrived yet
		}
		for a := 0; a < 40; a++ {
			l.Attributes = append(l.Attributes, &v1.KeyValue{Key: fmt.Sprintf("a%d", a), Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: int64(a)}}})
		}
		v, _ := proto.Marshal(&env)
		lkeys, logs = append(lkeys, keys[i]), append(logs, v)
	}
	pr, st := newTestProcessor(t, DefaultRules())
	base := heapInUse()
	for i, v := range logs {
		var env v1.Envelope
		raw, err := st.decodeOwn([]byte(lkeys[i]), v, &env) // as Enricher.take does
		if err != nil {
			t.Fatal(err)
		}
		pr.add(st, lkeys[i], &env, raw, int64(i), t0)
	}
	forgetOutput(st)
	held := heapInUse() - base
	ratio := float64(held) / float64(st.held())
	t.Logf("attribute logs waiting for their spans (%d bytes each): heap %d bytes, counted %d (%.2f)", len(logs[0]), held, st.held(), ratio)
	if held > int64(st.held()) || ratio < 0.7 {
		t.Errorf("pending submissions take %d bytes of heap, counted %d (%.2f): want between 0.7 and 1 of the count", held, st.held(), ratio)
	}
	runtime.KeepAlive(st)
	runtime.KeepAlive(logs)
}

// After a bulk release the decided submissions stay referenced until the
// deadline queue pops them or order is compacted (issue 16's heap bound
// after a backlog): each must then be no more than its struct, since the
// count has only orderOverhead (or nothing) for it. Its submission
// contexts and trace set went with the decision.
func TestLimits_ReleasedSubmissionsKeepNoMoreThanTheirStruct(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	keys, values := benchWorkload(4000)
	pr, st := newTestProcessor(t, DefaultRules())
	forgetOutput(st)
	base := heapInUse()
	for i, v := range values {
		var env v1.Envelope
		raw, err := st.decodeOwn([]byte(keys[i]), v, &env)
		if err != nil {
			t.Fatal(err)
		}
		pr.add(st, keys[i], &env, raw, int64(i), t0)
	}
	// What order and the deadline queue may still reference after the
	// release.
	kept := make([]*submission, 0, len(st.subs))
	for _, sub := range st.subs {
		kept = append(kept, sub)
	}
	pr.decideDue(st, t0.Add(time.Hour))
	forgetOutput(st)
	st.watermark()
	after := heapInUse() - base
	structs := int64(len(kept)) * int64(allocSize(unsafe.Sizeof(submission{}))+8)
	t.Logf("decided: heap %d bytes, counted %d, %d released submissions' structs %d", after, st.held(), len(kept), structs)
	if after > int64(st.held())+structs+1<<20 {
		t.Errorf("after every submission was decided %d bytes of heap remain, counted %d plus %d of submission structs", after, st.held(), structs)
	}
	runtime.KeepAlive(kept)
	runtime.KeepAlive(st)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(values)
}
