package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// probeTimeout bounds the reads of probeAll in case a broker does not
// answer; a partition with something readable before its end answers in
// one fetch.
const probeTimeout = 2 * time.Second

// probe is a read of a partition from a group's committed offset (from) up
// to its end, stopping at the first data record.
type probe struct {
	topic     string
	partition int32
	from, end int64

	// resolved: a data record before end was found (ts is its
	// timestamp), or the read reached end with only transaction markers
	// (onlyMarkers). Unresolved probes ran out of time.
	resolved    bool
	onlyMarkers bool
	ts          time.Time
}

type probeKey struct {
	topic     string
	partition int32
	from, end int64
}

func (p *probe) key() probeKey { return probeKey{p.topic, p.partition, p.from, p.end} }

// dedupe drops probes identical to an earlier one (groups at the same
// position).
func dedupe(ps []*probe) []*probe {
	seen := map[probeKey]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p.key()] {
			seen[p.key()] = true
			out = append(out, p)
		}
	}
	return out
}

// probeAll runs the probes, as few reads as possible: one client per round,
// each round reading every partition at most once (groups at different
// positions of one partition need a round each).
func probeAll(ctx context.Context, base *kgo.Client, ps []*probe) error {
	var rounds [][]*probe
	for _, p := range ps {
		placed := false
		for i, r := range rounds {
			if !hasPartition(r, p) {
				rounds[i] = append(r, p)
				placed = true
				break
			}
		}
		if !placed {
			rounds = append(rounds, []*probe{p})
		}
	}
	if len(rounds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	for _, r := range rounds {
		if err := probeRound(ctx, base, r); err != nil {
			return err
		}
	}
	return nil
}

func hasPartition(r []*probe, p *probe) bool {
	for _, q := range r {
		if q.topic == p.topic && q.partition == p.partition {
			return true
		}
	}
	return false
}

// probeRound reads each probe's partition from its offset, read_committed
// with control records kept, until every probe is resolved or ctx ends.
func probeRound(ctx context.Context, base *kgo.Client, r []*probe) error {
	offsets := map[string]map[int32]kgo.Offset{}
	byTP := map[string]map[int32]*probe{}
	for _, p := range r {
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.Offset{}
			byTP[p.topic] = map[int32]*probe{}
		}
		offsets[p.topic][p.partition] = kgo.NewOffset().At(p.from)
		byTP[p.topic][p.partition] = p
	}
	opts := append(base.Opts(), kgo.ConsumePartitions(offsets),
		// Lag is about what read_committed consumers read; markers are
		// kept so that a position made only of them is seen as such.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(1<<20))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating a client to read oldest records: %w", err)
	}
	defer cl.Close()
	open := len(r)
	for open > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // what is still open stays unresolved
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			p := byTP[fp.Topic][fp.Partition]
			if p == nil || p.resolved {
				return
			}
			if p.observe(fp.Records) {
				open--
				cl.PauseFetchPartitions(map[string][]int32{fp.Topic: {fp.Partition}})
			}
		})
	}
	return nil
}

// observe takes the next records of the probe's partition (in offset
// order) and reports whether the probe is now resolved.
func (p *probe) observe(recs []*kgo.Record) bool {
	for _, rec := range recs {
		if rec.Offset >= p.end {
			p.resolved, p.onlyMarkers = true, true
			return true
		}
		if !rec.Attrs.IsControl() {
			p.resolved, p.ts = true, rec.Timestamp
			return true
		}
	}
	if n := len(recs); n > 0 && recs[n-1].Offset+1 >= p.end {
		p.resolved, p.onlyMarkers = true, true
	}
	return p.resolved
}
