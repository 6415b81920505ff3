package enrich

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// upgradeReadTimeout bounds re-reading the dropped records of late
// upgrades; what is not read by then (deleted by retention, say) is given
// up, so that an upgrade never holds the watermark for long.
const upgradeReadTimeout = 10 * time.Second

// runUpgrades re-reads from the raw topic the records that head sampling
// dropped for submissions a late record upgraded, and queues them for the
// next transaction. Each upgrade holds its partition's watermark at the
// late record that triggered it until then, so a crash in between re-reads
// the trigger. Upgrades are rare (a failure noticed after its submission
// was decided): a short-lived reader per batch is cheaper than keeping one.
func (e *Enricher) runUpgrades(ctx context.Context, now time.Time) {
	want := map[int32]map[int64]*upgrade{}
	start := map[int32]kgo.Offset{}
	last := map[int32]int64{}
	for p, st := range e.states {
		for _, up := range st.upgrades {
			for _, o := range up.offsets {
				if want[p] == nil {
					want[p] = map[int64]*upgrade{}
					last[p] = -1
				}
				want[p][o] = up
				if s, ok := start[p]; !ok || o < s.EpochOffset().Offset {
					start[p] = kgo.NewOffset().At(o)
				}
				last[p] = max(last[p], o)
			}
		}
	}
	if len(want) == 0 {
		return
	}
	parts := make([]int32, 0, len(want))
	for p := range want {
		parts = append(parts, p)
	}
	defer func() {
		if ctx.Err() != nil {
			// Stopping: the upgrades stay, and hold the watermark at
			// their triggers in the final flush.
			return
		}
		for _, p := range parts {
			if st := e.states[p]; st != nil {
				st.upgrades = nil
			}
		}
	}()
	opts := append([]kgo.Opt{}, e.base...)
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{e.topics.Raw: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		e.logger.Warn("late upgrade: creating a reader failed; the dropped records stay dropped", "err", err)
		return
	}
	defer rd.Close()
	rctx, cancel := context.WithTimeout(ctx, upgradeReadTimeout)
	defer cancel()
	for len(want) > 0 && rctx.Err() == nil {
		fs := rd.PollFetches(rctx)
		fs.EachRecord(func(r *kgo.Record) {
			ups := want[r.Partition]
			st := e.states[r.Partition]
			if ups == nil || st == nil {
				return
			}
			if up := ups[r.Offset]; up != nil {
				var env v1.Envelope
				if proto.Unmarshal(r.Value, &env) == nil && env.GetRecord() != nil {
					e.pr.upgraded(st, up, &env, r.Value, r.Offset, now)
				}
				delete(ups, r.Offset)
			}
			if r.Offset >= last[r.Partition] || len(ups) == 0 {
				delete(want, r.Partition)
			}
		})
	}
	for p, ups := range want {
		if len(ups) > 0 {
			e.logger.Warn("late upgrade: some dropped records could not be re-read and stay dropped", "partition", p, "records", len(ups))
		}
	}
}
