package bounded

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/testkit/testkafka"
)

// fetchAll returns every record of partition 0 of topic read_committed with
// control records kept, in offset order, up to end.
func fetchAll(t *testing.T, c *testkafka.Cluster, topic string, end int64) []*kgo.Record {
	t.Helper()
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset+1 < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records, not up to %d", len(out), end)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestSplit_MarkersMovePosition reads a partition holding a committed
// transaction, an aborted one and a plain record: markers are never data,
// they and the aborted records move the position, and the end caps it.
func TestSplit_MarkersMovePosition(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(1, "t"))
	txn := c.Client(kgo.TransactionalID("bounded-test"), kgo.DefaultProduceTopic("t"))
	plain := c.Client(kgo.DefaultProduceTopic("t"))
	ctx := context.Background()
	produce := func(cl *kgo.Client, vals ...string) {
		t.Helper()
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(txn, "a", "b")
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	produce(plain, "c")
	// Offsets: 0 a, 1 b, 2 commit marker, 3 a, 4 b (aborted), 5 abort
	// marker, 6 c.
	recs := fetchAll(t, c, "t", 7)

	values := func(rs []*kgo.Record) string {
		var s string
		for _, r := range rs {
			s += string(r.Value)
		}
		return s
	}
	for _, tc := range []struct {
		end     int64
		data    string
		wantPos int64
	}{
		{-1, "abc", 7},
		{7, "abc", 7},
		{6, "ab", 6}, // the abort marker is the window's last offset
		{3, "ab", 3}, // ends after the commit marker
		{2, "ab", 2}, // ends at the commit marker: position capped
		{1, "a", 1},
		{0, "", 0},
	} {
		data, pos := Split(recs, tc.end)
		if values(data) != tc.data || pos != tc.wantPos {
			t.Errorf("Split(end %d) = %q, %d; want %q, %d", tc.end, values(data), pos, tc.data, tc.wantPos)
		}
	}
	if data, pos := Split(nil, 5); data != nil || pos != -1 {
		t.Errorf("Split(nil) = %v, %d", data, pos)
	}
	// Split never changes what it was given.
	if len(recs) != 5 || !recs[2].Attrs.IsControl() {
		t.Errorf("input changed or unexpected fetch: %d records", len(recs))
	}
}

func TestEnds_DoneAndRemaining(t *testing.T) {
	ends := Ends{0: 10, 1: 5, 2: 0}
	for _, tc := range []struct {
		at        map[int32]int64
		done      bool
		remaining int64
	}{
		{map[int32]int64{0: 10, 1: 5, 2: 0}, true, 0},
		{map[int32]int64{0: 10, 1: 7, 2: 3}, true, 0},
		{map[int32]int64{0: 10, 1: 5}, false, 0}, // partition 2 never committed: not done
		{map[int32]int64{0: 4, 1: 5, 2: 0}, false, 6},
		{map[int32]int64{}, false, 15},
		{map[int32]int64{0: -1, 1: 5, 2: 0}, false, 10},
	} {
		if got := ends.Done(tc.at); got != tc.done {
			t.Errorf("Done(%v) = %v", tc.at, got)
		}
		if got := ends.Remaining(tc.at); got != tc.remaining {
			t.Errorf("Remaining(%v) = %d, want %d", tc.at, got, tc.remaining)
		}
	}
}
