package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Lag is the total lag of a group on a topic, by kadm's arithmetic: per
// partition, the last stable offset (the end of what read_committed
// consumers read) minus the committed offset, or minus the start offset
// where nothing is committed. Sinks commit past transaction markers, so a
// caught-up sink has lag 0.
func Lag(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // not started yet: it lags from the start
	}
	if err != nil {
		return 0, err
	}
	// Every partition of topic, committed to or not.
	commits := kadm.OffsetResponses{topic: committed[topic]}
	if commits[topic] == nil {
		commits[topic] = map[int32]kadm.OffsetResponse{}
	}
	var lag int64
	for _, l := range kadm.CalculateGroupLagWithStartOffsets(described[group], commits, starts, ends)[topic] {
		if l.Err != nil {
			return 0, fmt.Errorf("partition %d: %w", l.Partition, l.Err)
		}
		lag += l.Lag
	}
	return lag, nil
}

// Counts are the numbers of the status line besides lag, which the
// caller reads from the stages' own counters (ingest's Server.Accepted,
// enrich's Enricher.Stats, the sink runtime's Runner.Stats), never back out
// of a metrics registry.
type Counts struct {
	// Ingested records: acknowledged by Kafka at ingest.
	Ingested int64
	// EnrichRead and EnrichKept: raw records the enricher read, enriched
	// records it wrote.
	EnrichRead, EnrichKept int64
	// Sinks holds each sink's counts by sink name.
	Sinks map[string]SinkCounts
}

// SinkCounts are one sink's counts on the status line.
type SinkCounts struct {
	Delivered, DeadLettered int64
}

// Line is a one-line pipeline summary.
type Line struct {
	adm      *kadm.Client
	enriched string
	sinks    []string
	lastIn   int64
	lastAt   time.Time
}

// NewLine summarises a pipeline whose sinks read topic enriched; their lag
// comes from adm.
func NewLine(adm *kadm.Client, enriched string, sinks []string) *Line {
	s := append([]string(nil), sinks...)
	sort.Strings(s)
	return &Line{adm: adm, enriched: enriched, sinks: s, lastAt: time.Now()}
}

// String renders the line for c and the sinks' current lag, e.g.
// "in 412.0/s (total 2061) | enriched 1880 of 2061 read, kept 23.4% | file: delivered 440, lag 0 | dlq 0".
func (l *Line) String(ctx context.Context, c Counts) string {
	now := time.Now()
	rate := float64(c.Ingested-l.lastIn) / now.Sub(l.lastAt).Seconds()
	l.lastIn, l.lastAt = c.Ingested, now
	kept := 0.0
	if c.EnrichRead > 0 {
		kept = 100 * float64(c.EnrichKept) / float64(c.EnrichRead)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "in %.1f/s (total %d) | enriched %d of %d read, kept %.1f%%", rate, c.Ingested, c.EnrichKept, c.EnrichRead, kept)
	var dlq int64
	for _, s := range l.sinks {
		sc := c.Sinks[s]
		dlq += sc.DeadLettered
		lag, err := Lag(ctx, l.adm, "logweave-sink-"+s, l.enriched)
		lagText := fmt.Sprint(lag)
		if err != nil {
			lagText = "?"
		}
		fmt.Fprintf(&b, " | %s: delivered %d, lag %s", s, sc.Delivered, lagText)
	}
	fmt.Fprintf(&b, " | dlq %d", dlq)
	return b.String()
}
