package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/logweave/logweave/sinks"
)

// maxRepairAttempts bounds retries of a transiently failing record on
// repair; what still fails is left missing, for the next run.
const maxRepairAttempts = 8

// repair re-drives every missing record through its sink's Writer, then
// checks the repaired submissions again until they are clean or Settle
// passes.
func repair(ctx context.Context, targets []*target, subs []*submission, results [][]*SinkResult, dlq map[string]map[string]bool, o Options) error {
	type cell struct{ i, j int }
	var touched []cell
	for j, t := range targets {
		if t.Writer == nil {
			continue
		}
		var batch []*sinks.Record
		var owners []*SinkResult
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			res, err := write(ctx, t.Writer, batch)
			if err != nil {
				return fmt.Errorf("repairing sink %s: %w", t.name, err)
			}
			for k, r := range batch {
				id := r.Enriched.GetRecordId()
				switch res[k].Outcome {
				case sinks.Delivered:
					owners[k].Repaired = append(owners[k].Repaired, id)
				case sinks.Reject:
					owners[k].RepairRejected = append(owners[k].RepairRejected, id)
				}
			}
			batch, owners = batch[:0], owners[:0]
			return nil
		}
		for i := range subs {
			res := results[i][j]
			if len(res.Missing) == 0 {
				continue
			}
			touched = append(touched, cell{i, j})
			for _, id := range res.Missing {
				batch = append(batch, res.expected[id])
				owners = append(owners, res)
				if len(batch) >= t.BatchRecords {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(o.Settle)
	for len(touched) > 0 {
		var again []cell
		for _, c := range touched {
			old := results[c.i][c.j]
			res, err := check(ctx, targets[c.j], subs[c.i], dlq[targets[c.j].name], o.Margin)
			if err != nil {
				return err
			}
			res.Repaired, res.RepairRejected = old.Repaired, old.RepairRejected
			results[c.i][c.j] = res
			if len(res.Missing) > 0 {
				again = append(again, c)
			}
		}
		touched = again
		if len(touched) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// write writes batch, retrying transient failures with backoff, and
// returns one result per record: Delivered, Reject, or Retry for what
// still failed after maxRepairAttempts.
func write(ctx context.Context, w sinks.Sink, batch []*sinks.Record) ([]sinks.Result, error) {
	out := make([]sinks.Result, len(batch))
	idx := make([]int, len(batch))
	for k := range idx {
		idx[k] = k
	}
	backoff := 200 * time.Millisecond
	for attempt := 0; attempt < maxRepairAttempts && len(idx) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		recs := make([]*sinks.Record, len(idx))
		for k, i := range idx {
			recs[k] = batch[i]
		}
		res, err := w.Write(ctx, recs)
		if err != nil {
			return nil, err
		}
		var retry []int
		for k, i := range idx {
			out[i] = res[k]
			if res[k].Outcome == sinks.Retry {
				retry = append(retry, i)
			}
		}
		idx = retry
	}
	return out, nil
}
