package replay

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/internal/kafka"
)

// RawOptions configure a replay from the raw topic: the window is enriched
// again, with the rules given (the current ones), into a topic of the job's
// own, and that topic is then replayed into the sink.
type RawOptions struct {
	Options
	RawTopic string
	Enrich   enrich.Config
	Rules    *enrich.Rules
}

// OutputTopic is the topic of a raw replay job derived from topic: the
// job's copy of the raw window (from the raw topic) and its enriched
// output (from the enriched topic).
func OutputTopic(enriched, job string) string {
	return enriched + ".replay-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, job)
}

// RunRaw enriches the window of the raw topic into the job's output topic
// (group logweave-replay-raw-<job>, exactly once, resumable like the live
// enricher), then replays that topic into the sink.
func RunRaw(ctx context.Context, o RawOptions) (Report, error) {
	cl, err := kgo.NewClient(o.Base...)
	if err != nil {
		return Report{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	rawJob := "raw-" + o.Job
	plan, err := Prepare(ctx, adm, rawJob, o.RawTopic, o.From, o.To)
	if err != nil {
		return Report{}, err
	}
	out := OutputTopic(o.Topics.Enriched, o.Job)
	private := OutputTopic(o.RawTopic, o.Job)
	nparts := int32(len(plan.End))
	if _, err := kafka.EnsureTopics(ctx, adm, -1, []kafka.TopicSpec{
		{Topic: kafka.Topic{Name: private, Partitions: nparts}, Field: "replay raw copy", Keyed: true},
		{Topic: kafka.Topic{Name: out, Partitions: nparts}, Field: "replay output", Keyed: true},
	}); err != nil {
		return Report{}, fmt.Errorf("creating the job's topics: %w", err)
	}
	group, _ := Groups(rawJob)
	// The window is first copied into the job's own raw topic, each
	// record on its key's partition, so that the enricher below reads only
	// that topic and never writes to the live one.
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "replay %s: copying %d raw offsets into %s\n", o.Job, plan.Total(), private)
	}
	if err := copyWindow(ctx, o.Base, adm, group+"-copy", o.RawTopic, private, plan); err != nil {
		return Report{}, fmt.Errorf("copying the window: %w", err)
	}
	untilOffs, err := endOffsets(ctx, adm, private, len(plan.End))
	if err != nil {
		return Report{}, err
	}
	ecfg := o.Enrich
	ecfg.GroupName = group
	ecfg.TransactionalID = group
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("replay", o.Job)
	en, err := enrich.New(ecfg, enrich.Topics{Raw: private, Enriched: out, DLQ: o.Topics.DLQ}, o.Rules, o.Base,
		enrich.Deps{Logger: logger, Registerer: o.Registry})
	if err != nil {
		return Report{}, err
	}
	en.SetUntil(untilOffs)
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- en.Run(ectx) }()
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "replay %s: enriching %s into %s with the current rules\n", o.Job, private, out)
	}
	start := time.Now()
	select {
	case <-en.Done():
		cancel()
		err = <-done
	case err = <-done:
	}
	cancel()
	if err != nil {
		return Report{}, fmt.Errorf("enriching the window: %w", err)
	}
	if ctx.Err() != nil {
		return Report{}, fmt.Errorf("replay %s interrupted while enriching; run it again to resume: %w", o.Job, ctx.Err())
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "replay %s: enrichment done in %s; writing %s to the sink\n", o.Job, time.Since(start).Round(time.Millisecond), out)
	}
	so := o.Options
	so.Job = o.Job + "-out"
	so.Topics.Enriched = out
	so.From, so.To = time.Time{}, time.Time{}
	return Run(ctx, so)
}

// endOffsets lists the end offsets of every partition of a topic that may
// have just been created (its metadata can take a moment to propagate).
func endOffsets(ctx context.Context, adm *kadm.Client, topic string, nparts int) (map[int32]int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = l.Error()
		}
		out := map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		if err == nil && len(out) == nparts {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("listing the end offsets of %s: %v (%d of %d partitions)", topic, err, len(out), nparts)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
