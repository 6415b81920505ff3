// Package ops holds the operator's view of a logweave deployment: where
// every logweave consumer group stands (`logweave status`), moving an
// idle group's offsets (`logweave offsets set`), and the one-line status of
// `logweave dev` (Line).
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/kafka"
)

// GroupPrefix starts the name of every logweave consumer group.
const GroupPrefix = "logweave-"

// Partition is where a group stands on one partition.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the committed offset, -1 when none.
	Committed int64 `json:"committed"`
	// End is where the group's reading ends: the last stable offset (the
	// read_committed end, the high watermark unless a transaction is
	// open), or for a replay job the end offset of its window.
	End int64 `json:"end"`
	// Lag is the number of offsets from Committed to End, 0 when all of
	// them are transaction markers (or aborted records): everything
	// readable was consumed.
	Lag int64 `json:"lag"`
	// OldestUnconsumed is the timestamp of the first record at or after
	// the committed offset (the oldest the group has not finished), nil
	// without lag.
	OldestUnconsumed *time.Time `json:"oldest_unconsumed,omitempty"`
}

// Group is one consumer group's status.
type Group struct {
	Group      string      `json:"group"`
	State      string      `json:"state"`
	Members    []string    `json:"members"` // client id @ host
	Lag        int64       `json:"lag"`
	Partitions []Partition `json:"partitions"`
}

// Topic returns the topic a logweave group consumes: the enricher reads
// raw, sinks and replays read enriched (replays of raw name it). A replay
// job's plan group names its topic exactly; Status reads it from there.
func Topic(group string, topics kafka.Topics) string {
	switch {
	case group == "logweave-enrich":
		return topics.Raw.Name
	case strings.HasPrefix(group, "logweave-replay-raw-"):
		return topics.Raw.Name
	}
	return topics.Enriched.Name
}

// planSuffix ends the name of a replay job's plan group, whose committed
// offsets are the job's end offsets (see replay).
const planSuffix = "-plan"

// Status reports every logweave group (or only groups, when given).
//
// Lag is kadm's arithmetic (kadm.CalculateGroupLagWithStartOffsets)
// against the last stable offset, which is what read_committed consumers
// can read, or against a replay job's planned end. A group that stops just
// below transaction markers (a consumer that commits after its last data
// record, not after the marker that follows it) is read from its committed
// offset with control records kept: when only markers lie before the end,
// its lag is 0. That read stops at the first data record or at the end, so
// it takes one fetch per partition, not a wait for silence.
func Status(ctx context.Context, cl *kgo.Client, topics kafka.Topics, groups ...string) ([]Group, error) {
	return status(ctx, cl, topics, nil, groups...)
}

// status is Status; onProbe, when set (tests), sees every finished probe.
func status(ctx context.Context, cl *kgo.Client, topics kafka.Topics, onProbe func(*probe), groups ...string) ([]Group, error) {
	adm := kadm.NewClient(cl)
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	exists := map[string]bool{}
	for _, g := range listed.Sorted() {
		exists[g.Group] = true
	}
	if len(groups) == 0 {
		for _, g := range listed.Sorted() {
			// Plan groups only store a job's end offsets.
			if strings.HasPrefix(g.Group, GroupPrefix) && !strings.HasSuffix(g.Group, planSuffix) {
				groups = append(groups, g.Group)
			}
		}
	}
	sort.Strings(groups)
	if len(groups) == 0 {
		return nil, nil
	}
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("describing groups: %w", err)
	}
	plans, err := replayPlans(ctx, adm, groups, exists)
	if err != nil {
		return nil, err
	}
	readTopics := []string{topics.Raw.Name, topics.Enriched.Name}
	for _, pl := range plans {
		readTopics = append(readTopics, pl.topic)
	}
	starts, err := adm.ListStartOffsets(ctx, readTopics...)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	// The last stable offsets: the end of what read_committed consumers,
	// every logweave role, can read.
	ends, err := adm.ListCommittedOffsets(ctx, readTopics...)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	out := make([]Group, 0, len(groups))
	for _, name := range groups {
		committed, err := adm.FetchOffsets(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("fetching offsets of %s: %w", name, err)
		}
		topic, groupEnds := Topic(name, topics), ends
		if pl, ok := plans[name]; ok {
			topic, groupEnds = pl.topic, pl.ends
		}
		out = append(out, groupStatus(name, topic, described[name], committed, starts, groupEnds))
	}
	if err := probeLagging(ctx, cl, out, onProbe); err != nil {
		return out, err
	}
	return out, nil
}

// plan is a replay job's window: its topic and end offsets.
type plan struct {
	topic string
	ends  kadm.ListedOffsets
}

// replayPlans reads the plan group of every replay job among groups.
func replayPlans(ctx context.Context, adm *kadm.Client, groups []string, exists map[string]bool) (map[string]plan, error) {
	plans := map[string]plan{}
	for _, name := range groups {
		if !strings.HasPrefix(name, GroupPrefix+"replay-") || !exists[name+planSuffix] {
			continue
		}
		offs, err := adm.FetchOffsets(ctx, name+planSuffix)
		if err != nil {
			return nil, fmt.Errorf("fetching the plan of %s: %w", name, err)
		}
		pl := plan{ends: make(kadm.ListedOffsets)}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || pl.topic != "" && o.Topic != pl.topic {
				return
			}
			pl.topic = o.Topic
			if pl.ends[o.Topic] == nil {
				pl.ends[o.Topic] = map[int32]kadm.ListedOffset{}
			}
			pl.ends[o.Topic][o.Partition] = kadm.ListedOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.At, LeaderEpoch: -1}
		})
		if pl.topic != "" {
			plans[name] = pl
		}
	}
	return plans, nil
}

// groupStatus computes a group's lag on topic with kadm: per partition of
// the topic, end minus committed, from the start where nothing is
// committed.
func groupStatus(name, topic string, d kadm.DescribedGroup, committed kadm.OffsetResponses, starts, ends kadm.ListedOffsets) Group {
	g := Group{Group: name}
	if d.Err == nil {
		g.State = d.State
		for _, m := range d.Members {
			g.Members = append(g.Members, m.ClientID+"@"+strings.TrimPrefix(m.ClientHost, "/"))
		}
	}
	// Only the group's topic, and all of its partitions: kadm lists every
	// partition of a topic that appears in the commits.
	commits := kadm.OffsetResponses{topic: committed[topic]}
	if commits[topic] == nil {
		commits[topic] = map[int32]kadm.OffsetResponse{}
	}
	lag := kadm.CalculateGroupLagWithStartOffsets(d, commits, starts, ends)
	for _, l := range lag[topic] {
		p := Partition{Topic: topic, Partition: l.Partition, Committed: l.Commit.At, End: l.End.Offset, Lag: max(l.Lag, 0)}
		if l.Err != nil {
			p.End = -1
		}
		g.Partitions = append(g.Partitions, p)
	}
	sort.Slice(g.Partitions, func(i, j int) bool { return g.Partitions[i].Partition < g.Partitions[j].Partition })
	return g
}

// probeLagging reads what lies between each lagging partition's committed
// offset and its end: the timestamp of the first data record, or, when
// there are only transaction markers, lag 0.
func probeLagging(ctx context.Context, cl *kgo.Client, groups []Group, onProbe func(*probe)) error {
	var ps []*probe
	for gi := range groups {
		for pi := range groups[gi].Partitions {
			p := &groups[gi].Partitions[pi]
			if p.Lag > 0 {
				ps = append(ps, &probe{topic: p.Topic, partition: p.Partition, from: max(p.Committed, 0), end: p.End})
			}
		}
	}
	ps = dedupe(ps)
	err := probeAll(ctx, cl, ps)
	found := map[probeKey]*probe{}
	for _, pr := range ps {
		found[pr.key()] = pr
		if onProbe != nil {
			onProbe(pr)
		}
	}
	for gi := range groups {
		g := &groups[gi]
		g.Lag = 0
		for pi := range g.Partitions {
			p := &g.Partitions[pi]
			if p.Lag > 0 {
				pr := found[probeKey{p.Topic, p.Partition, max(p.Committed, 0), p.End}]
				switch {
				case pr == nil || !pr.resolved:
					// Unknown (the broker did not answer in time): kadm's lag.
				case pr.onlyMarkers:
					p.Lag = 0
				default:
					t := pr.ts.UTC()
					p.OldestUnconsumed = &t
				}
			}
			g.Lag += p.Lag
		}
	}
	return err
}

// WriteTable prints groups as a table. now renders ages.
func WriteTable(w io.Writer, groups []Group, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tMEMBERS\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tOLDEST UNCONSUMED")
	for _, g := range groups {
		for i, p := range g.Partitions {
			name, state, members := "", "", ""
			if i == 0 {
				name, state, members = g.Group, g.State, fmt.Sprint(len(g.Members))
			}
			committed := "-"
			if p.Committed >= 0 {
				committed = fmt.Sprint(p.Committed)
			}
			oldest := "-"
			if p.OldestUnconsumed != nil {
				oldest = fmt.Sprintf("%s (%s ago)", p.OldestUnconsumed.Format(time.RFC3339), now.Sub(*p.OldestUnconsumed).Round(time.Second))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n", name, state, members, p.Topic, p.Partition, committed, p.End, p.Lag, oldest)
		}
		fmt.Fprintf(tw, "\t\t\t\t\t\ttotal\t%d\t\n", g.Lag)
	}
	return tw.Flush()
}

// WriteJSON prints groups as JSON.
func WriteJSON(w io.Writer, groups []Group) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if groups == nil {
		groups = []Group{}
	}
	return enc.Encode(groups)
}

// ErrGroupActive is returned by SetOffsets while the group has members.
var ErrGroupActive = errors.New("group has active members")

// SetOffsets moves an idle group's committed offsets on topic to "earliest",
// "latest" or an RFC 3339 time (the first offset at or after it). It refuses
// while the group has members, because they would overwrite the new
// offsets with their next commit.
func SetOffsets(ctx context.Context, cl *kgo.Client, group, topic, to string) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describing group %s: %w", group, err)
	}
	if d, ok := described[group]; ok && len(d.Members) > 0 {
		var who []string
		for _, m := range d.Members {
			who = append(who, m.ClientID+"@"+strings.TrimPrefix(m.ClientHost, "/"))
		}
		return nil, fmt.Errorf("%w: %s has %d member(s) (%s); stop them first, then set the offsets, then start them again",
			ErrGroupActive, group, len(d.Members), strings.Join(who, ", "))
	}
	var listed kadm.ListedOffsets
	switch to {
	case "earliest":
		listed, err = adm.ListStartOffsets(ctx, topic)
	case "latest":
		listed, err = adm.ListEndOffsets(ctx, topic)
	default:
		t, perr := time.Parse(time.RFC3339Nano, to)
		if perr != nil {
			return nil, fmt.Errorf("--to %q is not earliest, latest or an RFC 3339 time", to)
		}
		listed, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	if err := listed.Error(); err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	offsets := make(kadm.Offsets)
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		offsets.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
		out[o.Partition] = o.Offset
	})
	resps, err := adm.CommitOffsets(ctx, group, offsets)
	if err != nil {
		return nil, fmt.Errorf("committing offsets of %s: %w", group, err)
	}
	if err := resps.Error(); err != nil {
		return nil, fmt.Errorf("committing offsets of %s: %w", group, err)
	}
	return out, nil
}
