package enrich

import (
	"unsafe"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Raw values of a pending submission share chunks (its arena) instead of
// one heap object each: the collector's mark work follows the number of
// live objects, and a window of a million held records was a million
// copies. The first record of a submission, a record over arenaMaxRecord
// and the records of a submission kept live (they go out at once) keep an
// exact-size copy of their own.
//
// A chunk is counted in pending_bytes at its full capacity from its
// allocation until it is freed, and freed as soon as the last held record
// in it is released (emitReady), or with its submission: an arena pins at
// most its chunks whose records are still held, each at most
// arenaMaxChunk bytes, and the count follows it.
type rawChunk struct {
	buf  []byte
	refs int32 // held records whose raw value is in buf
}

const (
	arenaFirstChunk = 2 << 10
	arenaMaxChunk   = 8 << 10
	arenaMaxRecord  = arenaFirstChunk / 2
)

// copyRaw is an own copy of a fetched raw value of submission key: in the
// submission's arena when it is pending (the copy it returns last is taken
// by add), else an exact-size copy.
func (st *partState) copyRaw(key []byte, value []byte) []byte {
	sub := st.subs[string(key)]
	st.lastSub = sub // add looks it up no more
	if sub == nil || sub.decided || sub.keptBy != "" || len(value) > arenaMaxRecord || len(value) == 0 {
		raw := make([]byte, len(value))
		copy(raw, value)
		return raw
	}
	last := len(sub.chunks) - 1
	if last < 0 || sub.chunks[last].buf == nil || cap(sub.chunks[last].buf)-len(sub.chunks[last].buf) < len(value) {
		// As large as the arena so far, from arenaFirstChunk to
		// arenaMaxChunk: a small submission wastes at most part of one
		// small chunk, a large one takes few chunks.
		size := arenaFirstChunk
		for _, c := range sub.chunks {
			size += cap(c.buf)
		}
		size = min(max(size-arenaFirstChunk, arenaFirstChunk), arenaMaxChunk)
		if last >= 0 && sub.chunks[last].buf != nil && sub.chunks[last].refs == 0 {
			// Nothing held in it (records skipped as retries): reuse the slot.
			sub.unchunk(st, last)
		} else {
			sub.chunks = append(sub.chunks, rawChunk{})
			last++
		}
		sub.chunks[last].buf = make([]byte, 0, size)
		sub.bytes += size
		st.bytes += size
	}
	c := &sub.chunks[last]
	off := len(c.buf)
	c.buf = append(c.buf, value...)
	raw := c.buf[off:len(c.buf):len(c.buf)]
	sub.lastCopy, sub.lastChunk = raw, int16(last)
	return raw
}

// takeChunk says which chunk of sub's arena raw is in (0: none, else its
// index plus one) and counts r as held in it.
func (sub *submission) takeChunk(raw []byte) int16 {
	if sub.lastCopy == nil || len(raw) == 0 || unsafe.SliceData(raw) != unsafe.SliceData(sub.lastCopy) {
		return 0
	}
	sub.lastCopy = nil
	sub.chunks[sub.lastChunk].refs++
	return sub.lastChunk + 1
}

// releaseChunk forgets a released record's raw value: its chunk is freed
// with the last record held in it.
func (sub *submission) releaseChunk(st *partState, r *pendingRecord) {
	if r.chunk == 0 {
		return
	}
	i := int(r.chunk - 1)
	sub.chunks[i].refs--
	if sub.chunks[i].refs == 0 {
		sub.unchunk(st, i)
	}
}

// unchunk frees chunk i, no longer counted.
func (sub *submission) unchunk(st *partState, i int) {
	n := cap(sub.chunks[i].buf)
	sub.chunks[i].buf = nil
	sub.bytes -= n
	st.bytes -= n
	if sub.lastCopy != nil && int(sub.lastChunk) == i {
		sub.lastCopy = nil
	}
}

// decodeOwn is ownDecode for a record of submission key of partition st:
// its copy goes in the submission's arena when it is pending (copyRaw).
func (st *partState) decodeOwn(key []byte, value []byte, env *v1.Envelope) ([]byte, error) {
	raw := st.copyRaw(key, value)
	return raw, v1.UnmarshalUnsafe(raw, env)
}
