// Package bounded holds the completion rule of bounded runs (replays and
// backfills): a partition is finished when the consumer's position reaches
// the end offset captured when the run started, never after a silence.
//
// Positions are exact only if transaction markers move them: a
// read_committed consumer that drops control records stops one offset short
// of every committed transaction's end, and silence cannot tell "only a
// marker left" from "paused while the destination retries". Consumers of a
// bounded run therefore read with kgo.KeepControlRecords and pass every
// fetched record through Split, which hands back the data records and the
// position the fetch reached, markers included.
package bounded

import "github.com/twmb/franz-go/pkg/kgo"

// Split takes the records of one partition fetch, in offset order, read
// with kgo.KeepControlRecords, and returns the data records below end and
// the position after the fetch: one past its last record (control or data),
// capped at end. A fetch that returned a record at or past end reached end,
// because fetches are in offset order. end < 0 means unbounded. pos is -1
// for an empty fetch.
//
// Control records (transaction commit and abort markers) are never in data:
// they move the position and nothing else. Aborted data records never reach
// a read_committed consumer; the abort marker that follows them moves the
// position past them.
func Split(recs []*kgo.Record, end int64) (data []*kgo.Record, pos int64) {
	if len(recs) == 0 {
		return nil, -1
	}
	pos = recs[len(recs)-1].Offset + 1
	if end >= 0 && pos > end {
		pos = end
	}
	n := 0
	control := false
	for n < len(recs) && (end < 0 || recs[n].Offset < end) {
		if recs[n].Attrs.IsControl() {
			control = true
		}
		n++
	}
	if !control {
		return recs[:n:n], pos
	}
	data = make([]*kgo.Record, 0, n)
	for _, r := range recs[:n] {
		if !r.Attrs.IsControl() {
			data = append(data, r)
		}
	}
	return data, pos
}

// Ends are a bounded run's end offsets per partition, captured when the run
// started: everything before them existed then.
type Ends map[int32]int64

// Done reports whether every partition's position in at reached its end.
// at should hold positions the run made durable (committed offsets); a
// partition missing from at (never owned, or revoked before its position
// was committed) is not done.
func (e Ends) Done(at map[int32]int64) bool {
	for p, end := range e {
		if pos, ok := at[p]; !ok || pos < end {
			return false
		}
	}
	return true
}

// Remaining is the number of offsets, transaction markers included, between
// the positions in at and the ends. A partition missing from at counts
// from offset 0.
func (e Ends) Remaining(at map[int32]int64) int64 {
	var n int64
	for p, end := range e {
		if pos := max(at[p], 0); end > pos {
			n += end - pos
		}
	}
	return n
}
