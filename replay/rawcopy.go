package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
)

// copyWindow copies the window of the live raw topic into the job's own
// raw topic, every keyed record to the partition its key hashes to
// (Kafka's murmur2), so that the replay's enricher sees every submission
// whole on one partition and never has to move a record: a replay writes
// nothing to the live raw topic. A record the live enricher had moved out
// of the window (it carries enrich.MovedFromHeader naming an offset inside the
// window) is skipped, because its original is copied. The copy is one
// transactional consume-produce loop with its own group, so it is exactly
// once and resumes where it stopped.
func copyWindow(ctx context.Context, base []kgo.Opt, adm *kadm.Client, group, from, to string, plan Plan) error {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("fetching the progress of %s: %w", group, err)
	}
	pos := map[int32]int64{}
	start := kadm.Offsets{}
	for p, s := range plan.Start {
		pos[p] = s
		if o, ok := committed.Lookup(from, p); ok && o.Err == nil && o.At >= 0 {
			pos[p] = o.At
			continue
		}
		start.Add(kadm.Offset{Topic: from, Partition: p, At: s, LeaderEpoch: -1})
	}
	if len(start) > 0 {
		if r, err := adm.CommitOffsets(ctx, group, start); err != nil || r.Error() != nil {
			return fmt.Errorf("committing the start of %s: %v %v", group, err, r.Error())
		}
	}
	reached := func() bool {
		for p, end := range plan.End {
			if pos[p] < end {
				return false
			}
		}
		return true
	}
	if reached() {
		return nil
	}
	opts := append([]kgo.Opt{}, base...)
	opts = append(opts,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers move the position too, so the end is seen exactly.
		kgo.KeepControlRecords(),
		kgo.TransactionalID(group),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("creating the copy session: %w", err)
	}
	defer sess.Close()
	keyPart := kgo.StickyKeyPartitioner(nil).ForTopic(to)
	nparts := len(plan.End)
	for !reached() {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fs.IsClientClosed() {
			return errors.New("copy client closed")
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("beginning a copy transaction: %w", err)
		}
		polled := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) {
			polled[r.Partition] = max(polled[r.Partition], r.Offset+1)
			if r.Attrs.IsControl() || r.Offset >= plan.End[r.Partition] || movedFromWindow(r, plan) {
				return
			}
			want := r.Partition
			if len(r.Key) > 0 {
				want = int32(keyPart.Partition(r, nparts))
			}
			sess.Produce(ctx, &kgo.Record{Topic: to, Partition: want, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("committing a copy transaction: %w", err)
		}
		if committed {
			for p, o := range polled {
				pos[p] = max(pos[p], o)
			}
		}
	}
	return nil
}

// movedFromWindow says whether r is a copy the live enricher moved from an
// offset inside the window.
func movedFromWindow(r *kgo.Record, plan Plan) bool {
	for _, h := range r.Headers {
		if h.Key != enrich.MovedFromHeader {
			continue
		}
		ps, os, ok := strings.Cut(string(h.Value), ":")
		p, perr := strconv.ParseInt(ps, 10, 32)
		off, oerr := strconv.ParseInt(os, 10, 64)
		if !ok || perr != nil || oerr != nil {
			return false
		}
		end, inPlan := plan.End[int32(p)]
		return inPlan && off >= plan.Start[int32(p)] && off < end
	}
	return false
}
