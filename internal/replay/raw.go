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
	Logger   *slog.Logger
}

// OutputTopic is the enriched topic a raw replay writes.
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
	if _, err := kafka.EnsureTopics(ctx, adm, -1, []kafka.TopicSpec{{Topic: kafka.Topic{Name: out, Partitions: int32(len(plan.End))}, Field: "replay output", Keyed: true}}); err != nil {
		return Report{}, fmt.Errorf("creating %s: %w", out, err)
	}
	group, _ := Groups(rawJob)
	ecfg := o.Enrich
	ecfg.GroupName = group
	ecfg.TransactionalID = group
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	en, err := enrich.New(ecfg, enrich.Topics{Raw: o.RawTopic, Enriched: out, DLQ: o.Topics.DLQ}, o.Rules, o.Base,
		enrich.Deps{Logger: logger, Registerer: o.Registry})
	if err != nil {
		return Report{}, err
	}
	en.SetUntil(plan.End)
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- en.Run(ectx) }()
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "replay %s: enriching %d raw offsets into %s with the current rules\n", o.Job, plan.Total(), out)
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
