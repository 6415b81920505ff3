package enrich

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// emitWorkload adds and decides n submissions of the gen workload with
// every record kept, and returns what went out.
func emitWorkload(t *testing.T, pr *processor, st *partState, n, from int) {
	t.Helper()
	keys, values := benchWorkload(n)
	for i, v := range values {
		var env v1.Envelope
		raw, err := ownDecode(v, &env)
		if err != nil {
			t.Fatal(err)
		}
		pr.add(st, keys[i]+"-"+string(rune('a'+from)), &env, raw, int64(from*len(values)+i), t0)
	}
	pr.decideDue(st, t0.Add(time.Hour))
}

// inChunks says whether b lies in one of the chunks.
func inChunks(b []byte, chunks [][]byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, c := range chunks {
		c = c[:cap(c)]
		s := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
		if p >= s && p < s+uintptr(len(c)) {
			return true
		}
	}
	return false
}

// The enriched records of a transaction are written into output chunks:
// a record written later in the same transaction never overwrites an
// earlier one (the producer reads them until the transaction committed),
// and the chunks of a committed transaction are reused by the next one,
// at most outSpareKeep bytes of them.
func TestEmit_OutputChunksReusedOnlyAfterCommit(t *testing.T) {
	pr, st := newTestProcessor(t, keepAll)
	emitWorkload(t, pr, st, 400, 0) // about 3 MiB of output: several chunks
	if len(st.outFull) < 2 {
		t.Fatalf("%d full chunks: the workload did not fill several", len(st.outFull))
	}
	first := make([][]byte, len(st.out))
	for i, o := range st.out {
		first[i] = bytes.Clone(o.value)
	}
	emitWorkload(t, pr, st, 400, 1) // the same transaction goes on
	for i := range first {
		if !bytes.Equal(st.out[i].value, first[i]) {
			t.Fatalf("record %d of the transaction was overwritten by a later one", i)
		}
		if r := st.out[i].rec(); r.GetRecordId() == "" {
			t.Fatalf("record %d does not decode", i)
		}
	}
	chunks := append(append([][]byte{}, st.outFull...), st.outBuf)
	st.flushed() // committed
	if len(st.outSpare)*outChunk > outSpareKeep || len(st.outSpare) == 0 {
		t.Fatalf("%d spare chunks kept after the commit, want 1 to %d", len(st.outSpare), outSpareKeep/outChunk)
	}
	emitWorkload(t, pr, st, 50, 2)
	if len(st.out) == 0 || !inChunks(st.out[0].value, chunks) {
		t.Fatal("the next transaction did not reuse a chunk of the committed one")
	}
	for _, o := range st.out {
		if r := o.rec(); r.GetRecordId() == "" {
			t.Fatal("a record of the next transaction does not decode")
		}
	}
}

// The size hint emit starts a new chunk by is at least what is written,
// for the gen workload and the golden inputs (third-party envelopes).
func TestEmit_SizeHintCoversTheRecord(t *testing.T) {
	pr, st := newTestProcessor(t, keepAll)
	keys, values := benchWorkload(50)
	_, golden, _ := goldenInput()
	for _, g := range golden {
		keys, values = append(keys, "G"), append(values, g)
	}
	for i, v := range values {
		var env v1.Envelope
		raw, err := ownDecode(v, &env)
		if err != nil || env.GetRecord() == nil {
			continue
		}
		pr.add(st, keys[i], &env, raw, int64(i), t0)
	}
	pr.decideDue(st, t0.Add(time.Hour))
	if len(st.out) == 0 {
		t.Fatal("nothing went out")
	}
	for _, c := range append(append([][]byte{}, st.outFull...), st.outBuf) {
		if cap(c) != outChunk {
			t.Errorf("an output chunk grew to %d bytes by append: a record was larger than its size hint", cap(c))
		}
	}
}

// forgetOutput drops what the partition holds for its next transaction,
// chunks kept for reuse included: what a test measuring the held records'
// heap must not count.
func forgetOutput(st *partState) {
	st.out, st.extra, st.outBuf, st.outFull, st.outSpare = nil, nil, nil, nil, nil
}
