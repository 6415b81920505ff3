package enrich

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// checkArenaCounts checks the accounting of every pending submission's
// arena: a chunk's refs are the records held in it, a chunk none is held in
// is freed (except the one copies go to next, and chunks of copies no
// record took), and pending_bytes counts the chunks at their capacity
// beside the records (mem).
func checkArenaCounts(t *testing.T, st *partState) (chunks, freed, inArena int) {
	t.Helper()
	total := 0
	for _, sub := range st.subs {
		refs := make([]int32, len(sub.chunks))
		want := submissionOverhead + len(sub.spans)*spanOverhead
		for i := range sub.records {
			r := &sub.records[i]
			want += r.mem()
			if r.chunk > 0 {
				refs[r.chunk-1]++
				inArena++
				c := sub.chunks[r.chunk-1].buf
				if c == nil {
					t.Fatalf("submission %s: a held record's chunk %d was freed", sub.key, r.chunk-1)
				}
			}
		}
		for i, c := range sub.chunks {
			if c.refs != refs[i] {
				t.Fatalf("submission %s: chunk %d counts %d records, %d are held in it", sub.key, i, c.refs, refs[i])
			}
			if c.buf == nil {
				freed++
			} else {
				chunks++
				want += cap(c.buf)
			}
		}
		if sub.bytes != want {
			t.Fatalf("submission %s: counted %d bytes, its records, spans and chunks are %d", sub.key, sub.bytes, want)
		}
		total += sub.bytes
	}
	if total != st.bytes {
		t.Fatalf("partition counts %d bytes, its submissions %d", st.bytes, total)
	}
	return chunks, freed, inArena
}

// The raw values held in a submission's arena are copies: overwriting the
// fetched value after it was taken (franz-go reuses nothing, but a copy
// that aliased it would pin the fetch buffer) changes nothing of what goes
// out; records of submissions kept live go out as they become ready and
// their chunks are freed with the last record held in them, and
// pending_bytes counts every chunk still held.
func TestArena_CopiesKeptAndChunksFreedWithTheirRecords(t *testing.T) {
	keys, values := benchWorkload(300)
	pr, st := newTestProcessor(t, DefaultRules())
	fetch := make([]byte, 4<<10)
	live := 0
	for i, v := range values {
		f := fetch[:copy(fetch, v)]
		var env v1.Envelope
		raw, err := st.decodeOwn([]byte(keys[i]), f, &env)
		if err != nil {
			t.Fatal(err)
		}
		for j := range f {
			f[j] = 0xff // the fetch buffer reused
		}
		pr.add(st, keys[i], &env, raw, int64(i), t0)
		if i%97 == 0 {
			checkArenaCounts(t, st)
		}
	}
	for _, sub := range st.subs {
		if sub.keptBy != "" {
			live++
		}
	}
	chunks, freed, inArena := checkArenaCounts(t, st)
	t.Logf("%d pending submissions (%d kept live), %d chunks, %d freed, %d records in them", len(st.subs), live, chunks, freed, inArena)
	if inArena == 0 || live == 0 || freed == 0 {
		t.Fatalf("the workload did not exercise the arena (%d records in it), live keeps (%d) or chunks freed (%d)", inArena, live, freed)
	}
	pr.decideDue(st, t0.Add(time.Hour))
	if st.bytes != 0 {
		t.Errorf("every submission decided: %d bytes still counted", st.bytes)
	}
	want := map[string][]byte{}
	for _, v := range values {
		var env v1.Envelope
		if err := proto.Unmarshal(v, &env); err != nil {
			t.Fatal(err)
		}
		want[env.GetRecordId()] = v
	}
	got := 0
	for _, o := range st.out {
		r := o.rec()
		v, ok := want[r.GetRecordId()]
		if !ok {
			t.Fatalf("unknown record %q went out", r.GetRecordId())
		}
		var env v1.Envelope
		if err := proto.Unmarshal(v, &env); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(r.GetRecord(), &env) {
			t.Fatalf("record %s went out as %v, was %v", r.GetRecordId(), r.GetRecord(), &env)
		}
		if !bytes.Contains(o.value, v) {
			t.Fatalf("record %s: its raw value is not in the enriched record verbatim", r.GetRecordId())
		}
		got++
	}
	if got == 0 {
		t.Fatal("nothing went out")
	}
}

// A submission's records start with room for 4 and then grow at once to
// as many as the partition's recent submissions had (29 in the gen
// workload), not by doubling record by record.
func TestAdd_RecordsSizedLikeRecentSubmissions(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	keys, values := benchWorkload(100)
	add := func(key string, v []byte, off int) {
		var env v1.Envelope
		raw, err := st.decodeOwn([]byte(key), v, &env)
		if err != nil {
			t.Fatal(err)
		}
		pr.add(st, key, &env, raw, int64(off), t0)
	}
	for i, v := range values {
		add(keys[i], v, i)
	}
	pr.decideDue(st, t0.Add(time.Hour))
	if h := st.recordsHint(); h < 20 || h > 29 {
		t.Fatalf("records hint %d after 100 submissions of 29 records, want 20 to 29", h)
	}
	for i := 0; i < 5; i++ {
		add("N"+keys[i][1:], values[i], len(values)+i)
	}
	sub := st.subs["N"+keys[0][1:]]
	if sub == nil || len(sub.records) != 5 || cap(sub.records) != st.recordsHint() {
		t.Fatalf("a new submission's 5 records have room for %d, want the hint %d", cap(sub.records), st.recordsHint())
	}
	add("one", values[0], 2*len(values))
	if c := cap(st.subs["one"].records); c != 4 {
		t.Errorf("a submission of one record has room for %d, want 4", c)
	}
}
