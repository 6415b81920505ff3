package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// offsetRange is what to read of one partition: [start, end).
type offsetRange struct{ start, end int64 }

// window lists, per partition of topic, the offsets from the first record
// at or after from (zero: the earliest) to the first at or after to (zero:
// the end now).
func window(ctx context.Context, adm *kadm.Client, topic string, from, to time.Time) (map[int32]offsetRange, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	out := map[int32]offsetRange{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = offsetRange{start: 0, end: o.Offset} })
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		r := out[o.Partition]
		r.start = max(o.Offset, 0)
		out[o.Partition] = r
	})
	at := func(t time.Time, set func(r *offsetRange, off int64)) error {
		if t.IsZero() {
			return nil
		}
		l, err := adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
		if err != nil {
			return fmt.Errorf("listing offsets of %s at %s: %w", topic, t.Format(time.RFC3339), err)
		}
		l.Each(func(o kadm.ListedOffset) {
			r, ok := out[o.Partition]
			// A time after the last record lists -1 (or the end) on
			// some brokers: the end.
			if !ok || o.Err != nil || o.Offset < 0 || o.Offset > r.end {
				return
			}
			set(&r, o.Offset)
			out[o.Partition] = r
		})
		return nil
	}
	if err := at(from, func(r *offsetRange, off int64) { r.start = max(r.start, off) }); err != nil {
		return nil, err
	}
	if err := at(to, func(r *offsetRange, off int64) { r.end = off }); err != nil {
		return nil, err
	}
	return out, nil
}

// readRange calls fn for every committed record of topic in ranges, and
// returns once each partition's position reached its end. Transaction
// markers are read (and skipped) so a range that ends in one finishes.
func readRange(ctx context.Context, base []kgo.Opt, topic string, ranges map[int32]offsetRange, progress func(done int64), fn func(*kgo.Record)) error {
	parts := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, r := range ranges {
		if r.end > r.start {
			parts[p] = kgo.NewOffset().At(r.start)
			left[p] = r.end
		}
	}
	if len(parts) == 0 {
		return nil
	}
	opts := append(append([]kgo.Opt{}, base...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		// Enriched records are written in transactions: only committed
		// ones exist for the sinks.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers advance positions; without them a range ending in one
		// would never finish.
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating kafka client: %w", err)
	}
	defer cl.Close()
	var done int64
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("reading %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			done++
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
		if progress != nil {
			progress(done)
		}
	}
	return nil
}

// total is the number of offsets of ranges.
func total(ranges map[int32]offsetRange) int64 {
	var n int64
	for _, r := range ranges {
		if r.end > r.start {
			n += r.end - r.start
		}
	}
	return n
}
