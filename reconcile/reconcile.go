package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/sinks"
)

// Options configure a run.
type Options struct {
	// Base are the shared Kafka client options (brokers, TLS, SASL).
	Base []kgo.Opt
	// Topics are the enriched topic and the DLQ.
	Topics sinks.Topics
	// From and To bound, by Kafka timestamp, the enriched records whose
	// submissions are checked. Zero From: the earliest; zero To: the end
	// of the topic when the run starts.
	From, To time.Time
	// Margin widens the window on both sides when collecting a
	// submission's records, so a submission that straddles From or To is
	// compared whole, and widens the event-time range searched in Loki.
	// Default 15m.
	Margin time.Duration
	// Submissions, when set, restricts the check to these submit_ids.
	Submissions []string
	// Targets are the sinks to check.
	Targets []Target
	// Repair re-drives missing records through each target's Writer and
	// checks the repaired submissions again.
	Repair bool
	// Settle bounds how long the check after a repair waits for repaired
	// records to become visible (Elasticsearch refreshes every second).
	// Default 10s.
	Settle time.Duration
	// Progress receives a progress line on a terminal; nil for none.
	Progress io.Writer
}

// Run reads the window, looks every submission up in every target and,
// with Repair, re-drives what is missing.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Margin <= 0 {
		o.Margin = 15 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = 10 * time.Second
	}
	if len(o.Targets) == 0 {
		return nil, errors.New("no sink to check: the configuration has no elasticsearch or loki sink")
	}
	start := time.Now()
	admCl, err := kgo.NewClient(o.Base...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	targets, err := prepareTargets(ctx, adm, o)
	if err != nil {
		return nil, err
	}
	exp, read, err := readEnriched(ctx, adm, o, targets)
	if err != nil {
		return nil, err
	}
	dlq, err := readDLQ(ctx, adm, o)
	if err != nil {
		return nil, err
	}
	subs := selectSubmissions(exp, o)
	rep := &Report{From: o.From, To: o.To, Records: read, Submissions: len(subs), Undecodable: exp.undecode, Unkeyed: exp.unkeyed}
	results := make([][]*SinkResult, len(subs))
	p := newProgress(o.Progress)
	for i, s := range subs {
		p.show("checking submissions", int64(i), int64(len(subs)))
		results[i] = make([]*SinkResult, len(targets))
		for j, t := range targets {
			res, err := check(ctx, t, s, dlq[t.Name], o.Margin)
			if err != nil {
				return nil, err
			}
			results[i][j] = res
		}
	}
	p.done()
	if o.Repair {
		if err := repair(ctx, targets, subs, results, dlq, o); err != nil {
			return nil, err
		}
	}
	rep.fill(targets, subs, results)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// prepareTargets fetches each sink group's committed offsets.
func prepareTargets(ctx context.Context, adm *kadm.Client, o Options) ([]*target, error) {
	var out []*target
	for _, t := range o.Targets {
		if t.Group == "" {
			t.Group = "logweave-sink-" + t.Name
		}
		if t.BatchRecords <= 0 {
			t.BatchRecords = 500
		}
		tt := &target{Target: t, name: t.Name, router: t.Router, committed: map[int32]int64{}}
		offs, err := adm.FetchOffsets(ctx, t.Group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = nil // the sink never committed: everything is pending
		}
		if err != nil {
			return nil, fmt.Errorf("fetching the committed offsets of %s: %w", t.Group, err)
		}
		offs.Each(func(or kadm.OffsetResponse) {
			if or.Topic == o.Topics.Enriched && or.Err == nil && or.At >= 0 {
				tt.committed[or.Partition] = or.At
			}
		})
		out = append(out, tt)
	}
	return out, nil
}

func readEnriched(ctx context.Context, adm *kadm.Client, o Options, targets []*target) (*expectations, int64, error) {
	from, to := o.From, o.To
	wide := func(t time.Time, d time.Duration) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Add(d)
	}
	ranges, err := window(ctx, adm, o.Topics.Enriched, wide(from, -o.Margin), wide(to, o.Margin))
	if err != nil {
		return nil, 0, err
	}
	exp := newExpectations()
	var read int64
	p := newProgress(o.Progress)
	n := total(ranges)
	err = readRange(ctx, o.Base, o.Topics.Enriched, ranges, func(done int64) { p.show("reading "+o.Topics.Enriched, done, n) }, func(r *kgo.Record) {
		read++
		in := !r.Timestamp.Before(from) && (to.IsZero() || r.Timestamp.Before(to))
		exp.add(r, in, targets)
	})
	p.done()
	return exp, read, err
}

// readDLQ returns, per sink, the record_ids the sink dead-lettered from
// the start of the widened window to now.
func readDLQ(ctx context.Context, adm *kadm.Client, o Options) (map[string]map[string]bool, error) {
	from := o.From
	if !from.IsZero() {
		from = from.Add(-o.Margin)
	}
	ranges, err := window(ctx, adm, o.Topics.DLQ, from, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	err = readRange(ctx, o.Base, o.Topics.DLQ, ranges, nil, func(r *kgo.Record) {
		var sink, id string
		for _, h := range r.Headers {
			switch h.Key {
			case sinks.HeaderSink:
				sink = string(h.Value)
			case sinks.HeaderRecordID:
				id = string(h.Value)
			}
		}
		if sink == "" || id == "" {
			return
		}
		if out[sink] == nil {
			out[sink] = map[string]bool{}
		}
		out[sink][id] = true
	})
	return out, err
}

// selectSubmissions returns the submissions to check: those with a record
// inside the window, or the requested ones.
func selectSubmissions(exp *expectations, o Options) []*submission {
	var out []*submission
	if len(o.Submissions) > 0 {
		for _, id := range o.Submissions {
			if s, ok := exp.subs[SubmissionKey(id)]; ok {
				out = append(out, s)
				continue
			}
			// Nothing in the window: whatever a destination holds is extra.
			s := &submission{key: SubmissionKey(id), field: "submit_id", value: id, perSink: map[string]map[string]*sinks.Record{}, pending: map[string]map[string]bool{}}
			if !o.From.IsZero() {
				s.minTime = o.From.UnixNano()
			}
			s.maxTime = time.Now().UnixNano()
			if !o.To.IsZero() {
				s.maxTime = o.To.UnixNano()
			}
			if s.minTime == 0 {
				// No --from: search the last day, within Loki's default
				// max_query_length (721h).
				s.minTime = s.maxTime - int64(24*time.Hour)
			}
			out = append(out, s)
		}
		return out
	}
	for _, k := range exp.order {
		if s := exp.subs[k]; s.inWindow {
			out = append(out, s)
		}
	}
	return out
}

// check compares one submission in one sink's destination.
func check(ctx context.Context, t *target, s *submission, dlq map[string]bool, margin time.Duration) (*SinkResult, error) {
	expected := map[string]*sinks.Record{}
	res := &SinkResult{Sink: t.name, Submission: string(s.key)}
	var list []*sinks.Record
	for id, r := range s.perSink[t.name] {
		if dlq[id] {
			res.DeadLettered++
			continue
		}
		expected[id] = r
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Enriched.GetRecordId() < list[j].Enriched.GetRecordId() })
	q := sinks.LookupQuery{Field: s.field, Value: s.value, Expected: list,
		From: time.Unix(0, s.minTime).Add(-margin), To: time.Unix(0, s.maxTime).Add(margin)}
	found, err := t.Dest.Lookup(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", t.name, err)
	}
	res.compare(expected, found, dlq, s.pending[t.name])
	res.expected = expected
	return res, nil
}
