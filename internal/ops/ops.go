// Package ops holds the operator's view of a logweave deployment: where
// every logweave consumer group stands (`logweave status`) and moving an
// idle group's offsets (`logweave offsets set`).
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
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
	// OldestUnconsumed is the timestamp of the record at the committed
	// offset (the oldest the group has not finished), nil without lag.
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
// raw, sinks and replays read enriched (replays of raw name it).
func Topic(group string, topics kafka.Topics) string {
	switch {
	case group == "logweave-enrich":
		return topics.Raw.Name
	case strings.HasPrefix(group, "logweave-replay-raw-"):
		return topics.Raw.Name
	}
	return topics.Enriched.Name
}

// Status reports every logweave group (or only groups, when given).
func Status(ctx context.Context, cl *kgo.Client, topics kafka.Topics, groups ...string) ([]Group, error) {
	adm := kadm.NewClient(cl)
	if len(groups) == 0 {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing groups: %w", err)
		}
		for _, g := range listed.Sorted() {
			// Replay plan groups only store a job's end offsets.
			if strings.HasPrefix(g.Group, GroupPrefix) && !strings.HasSuffix(g.Group, "-plan") {
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
	ends, err := adm.ListEndOffsets(ctx, topics.Raw.Name, topics.Enriched.Name)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	var out []Group
	for _, name := range groups {
		g := Group{Group: name}
		if d, ok := described[name]; ok && d.Err == nil {
			g.State = d.State
			for _, m := range d.Members {
				g.Members = append(g.Members, m.ClientID+"@"+strings.TrimPrefix(m.ClientHost, "/"))
			}
		}
		topic := Topic(name, topics)
		committed, err := adm.FetchOffsets(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("fetching offsets of %s: %w", name, err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic != topic {
				return
			}
			p := Partition{Topic: topic, Partition: o.Partition, Committed: -1, End: o.Offset}
			if c, ok := committed.Lookup(topic, o.Partition); ok && c.Err == nil {
				p.Committed = c.At
			}
			from := max(p.Committed, 0)
			if p.End > from {
				p.Lag = p.End - from
			}
			g.Lag += p.Lag
			g.Partitions = append(g.Partitions, p)
		})
		sort.Slice(g.Partitions, func(i, j int) bool { return g.Partitions[i].Partition < g.Partitions[j].Partition })
		out = append(out, g)
	}
	if err := oldestUnconsumed(ctx, cl, out); err != nil {
		return out, err
	}
	return out, nil
}

// oldestUnconsumed reads the record at each lagging partition's committed
// offset for its timestamp.
func oldestUnconsumed(ctx context.Context, cl *kgo.Client, groups []Group) error {
	want := map[string]map[int32]kgo.Offset{}
	for _, g := range groups {
		for _, p := range g.Partitions {
			if p.Lag > 0 {
				if want[p.Topic] == nil {
					want[p.Topic] = map[int32]kgo.Offset{}
				}
				want[p.Topic][p.Partition] = kgo.NewOffset().At(max(p.Committed, 0))
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	// Reading twice the same partition at different offsets needs one
	// read per offset; group offsets differ, so read per distinct offset.
	times := map[string]time.Time{}
	for _, g := range groups {
		for _, p := range g.Partitions {
			if p.Lag == 0 {
				continue
			}
			k := fmt.Sprintf("%s/%d/%d", p.Topic, p.Partition, max(p.Committed, 0))
			if _, ok := times[k]; ok {
				continue
			}
			t, err := recordTime(ctx, cl, p.Topic, p.Partition, max(p.Committed, 0))
			if err != nil {
				return err
			}
			times[k] = t
		}
	}
	for gi := range groups {
		for pi := range groups[gi].Partitions {
			p := &groups[gi].Partitions[pi]
			if t, ok := times[fmt.Sprintf("%s/%d/%d", p.Topic, p.Partition, max(p.Committed, 0))]; ok && !t.IsZero() {
				t := t.UTC()
				p.OldestUnconsumed = &t
			}
		}
	}
	return nil
}

func recordTime(ctx context.Context, base *kgo.Client, topic string, p int32, at int64) (time.Time, error) {
	opts := base.Opts()
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(at)}}),
		kgo.FetchMaxPartitionBytes(1<<20))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(rctx, 1)
		if rctx.Err() != nil {
			return time.Time{}, nil // nothing readable (e.g. only aborted records): unknown
		}
		for _, r := range fs.Records() {
			return r.Timestamp, nil
		}
	}
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
