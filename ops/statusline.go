// Package status reads where a pipeline stands: consumer group lag from
// Kafka (kadm) and record counters from a process's own metrics. It feeds
// the one-line status of `logweave dev`.
package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Counter sums every series of a counter family in g, optionally only the
// series with the given label value.
func Counter(g prometheus.Gatherer, name, label, value string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !hasLabel(m.GetLabel(), label, value) {
				continue
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

type labelPair interface {
	GetName() string
	GetValue() string
}

func hasLabel[L labelPair](ls []L, name, value string) bool {
	for _, l := range ls {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// Line is a one-line pipeline summary.
type Line struct {
	g        prometheus.Gatherer
	adm      *kadm.Client
	enriched string
	sinks    []string
	lastIn   float64
	lastAt   time.Time
}

// NewLine summarises the pipeline whose metrics are in g, with sinks
// reading topic enriched.
func NewLine(g prometheus.Gatherer, adm *kadm.Client, enriched string, sinks []string) *Line {
	s := append([]string(nil), sinks...)
	sort.Strings(s)
	return &Line{g: g, adm: adm, enriched: enriched, sinks: s, lastAt: time.Now()}
}

// String renders the current line, e.g.
// "in 412.0/s (total 2061) | enriched 1880 of 2061 read, kept 23.4% | file: delivered 440, lag 0 | dlq 0".
func (l *Line) String(ctx context.Context) string {
	in := Counter(l.g, "logweave_ingest_records_accepted_total", "", "")
	now := time.Now()
	rate := (in - l.lastIn) / now.Sub(l.lastAt).Seconds()
	l.lastIn, l.lastAt = in, now
	read := Counter(l.g, "logweave_enrich_records_in_total", "", "")
	out := Counter(l.g, "logweave_enrich_records_out_total", "", "")
	kept := 0.0
	if read > 0 {
		kept = 100 * out / read
	}
	var b strings.Builder
	fmt.Fprintf(&b, "in %.1f/s (total %.0f) | enriched %.0f of %.0f read, kept %.1f%%", rate, in, out, read, kept)
	var dlq float64
	for _, s := range l.sinks {
		d := sinkCounter(l.g, s, "delivered")
		dlq += sinkCounter(l.g, s, "dead_lettered")
		lag, err := Lag(ctx, l.adm, "logweave-sink-"+s, l.enriched)
		lagText := fmt.Sprint(lag)
		if err != nil {
			lagText = "?"
		}
		fmt.Fprintf(&b, " | %s: delivered %.0f, lag %s", s, d, lagText)
	}
	fmt.Fprintf(&b, " | dlq %.0f", dlq)
	return b.String()
}

func sinkCounter(g prometheus.Gatherer, sink, outcome string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "logweave_sink_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m.GetLabel(), "sink", sink) && hasLabel(m.GetLabel(), "outcome", outcome) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
