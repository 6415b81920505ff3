package gen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Config configures a generator run.
type Config struct {
	// URL is the ingest base URL, e.g. http://127.0.0.1:4318.
	URL string
	// Logs is how logs are sent: "otlp" (the OpenTelemetry SDK log
	// exporter) or "ndjson". Spans always go through the SDK trace
	// exporter.
	Logs string
	// Protocol of the SDK exporters: "http" (default, to URL) or "grpc"
	// (to GRPCURL). NDJSON always goes to URL.
	Protocol string
	// GRPCURL is the ingest OTLP/gRPC endpoint, e.g.
	// http://127.0.0.1:4317; required with Protocol grpc.
	GRPCURL string
	// TraceContextLogs sends logs with no submission attributes, only the
	// trace and span ids of the span they are written in, as OpenTelemetry
	// log bridges do. Default false: every log carries submit_id and the
	// other submission fields.
	TraceContextLogs bool
	// DefaultBatching gives every service's providers the SDK's default
	// batch processors (spans exported every 5s, logs every 1s) instead of
	// the generator's fast ones (200ms, blocking span queue). With the
	// defaults a full SDK queue drops records, which Run reports as a
	// delivery failure.
	DefaultBatching bool
	// PhaseOffset starts the root service's providers this long after
	// the other services', so their batch timers, and flushes, are out of
	// phase as in a real deployment. Default 0.
	PhaseOffset time.Duration
	// Rate is submissions per second.
	Rate float64
	// Count stops after this many submissions; 0 means no limit.
	Count int
	// Duration stops after this long; 0 means no limit. At least one of
	// Count and Duration must be set.
	Duration time.Duration
	Seed     uint64
	Users    int
	Rates    Rates
	// JudgeThreshold is the judge latency threshold of the enricher's
	// rules; timeouts are planned over it and slow runs under it.
	JudgeThreshold time.Duration
	Token          string
	// Start fixes the end time of the first submission (the rest follow at
	// 1/Rate intervals), for fully reproducible timestamps. Zero: now.
	Start time.Time
	// Manifest receives one JSON line per submission; nil for none.
	Manifest io.Writer
}

// DefaultConfig returns the defaults of `logweave gen`'s flags and of the
// generator of `logweave dev`: ingest on 127.0.0.1 (OTLP/HTTP and NDJSON on
// :4318, OTLP/gRPC on :4317), logs through the OTLP/HTTP SDK exporter, 10
// submissions/s, seed 1, 1000 users, 5% of submissions with an error, 3%
// timeouts, 5% slow judge runs, 2% crashes, a 10s judge threshold. Count
// and Duration are 0: set one of them.
func DefaultConfig() Config {
	return Config{
		URL: "http://127.0.0.1:4318", Logs: "otlp", Protocol: "http", GRPCURL: "http://127.0.0.1:4317",
		Rate: 10, Seed: 1, Users: 1000, Rates: Rates{Error: 0.05, Timeout: 0.03, Slow: 0.05, Crash: 0.02},
		JudgeThreshold: 10 * time.Second,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	}
	if c.Logs != "otlp" && c.Logs != "ndjson" {
		errs = append(errs, fmt.Errorf("logs: %q is not allowed (allowed: otlp, ndjson)", c.Logs))
	}
	switch c.Protocol {
	case "", "http":
	case "grpc":
		if c.GRPCURL == "" {
			errs = append(errs, errors.New("grpc url: required with protocol grpc"))
		}
	default:
		errs = append(errs, fmt.Errorf("protocol: %q is not allowed (allowed: http, grpc)", c.Protocol))
	}
	if c.PhaseOffset < 0 {
		errs = append(errs, errors.New("phase offset: must not be negative"))
	}
	if c.Rate <= 0 {
		errs = append(errs, errors.New("rate: must be positive"))
	}
	if c.Count <= 0 && c.Duration <= 0 {
		errs = append(errs, errors.New("count or duration: at least one must be set, so the run is bounded"))
	}
	for name, r := range map[string]float64{"error": c.Rates.Error, "timeout": c.Rates.Timeout, "slow": c.Rates.Slow, "crash": c.Rates.Crash} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s rate: %v is not between 0 and 1", name, r))
		}
	}
	return errors.Join(errs...)
}

// Report is what a run sent.
type Report struct {
	Submissions   int
	SpansPlanned  int
	LogsPlanned   int
	SpansSent     int64
	LogsSent      int64
	SpansFailed   int64
	LogsFailed    int64
	LastError     error
	Elapsed       time.Duration
	SubmissionsPS float64
	RecordsPS     float64
}

func (r Report) String() string {
	s := fmt.Sprintf("sent %d submissions (%d spans, %d logs planned) in %s: %.1f submissions/s, %.0f records/s; exported %d spans, %d logs",
		r.Submissions, r.SpansPlanned, r.LogsPlanned, r.Elapsed.Round(time.Millisecond), r.SubmissionsPS, r.RecordsPS, r.SpansSent, r.LogsSent)
	if r.SpansFailed+r.LogsFailed > 0 {
		s += fmt.Sprintf("; FAILED %d spans, %d logs (last error: %v)", r.SpansFailed, r.LogsFailed, r.LastError)
	}
	return s
}

// Run generates and sends the workload until Count or Duration is reached
// or ctx is done, then flushes everything and reports. It returns an error
// when any record could not be delivered.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	var c counts
	sdk, err := newSDKSender(ctx, &cfg, &c)
	if err != nil {
		return Report{}, fmt.Errorf("creating exporters: %w", err)
	}
	var nd *ndjsonSender
	var emit func(*Submission, *Span, *Log)
	if cfg.Logs == "ndjson" {
		nd = newNDJSONSender(cfg.URL, cfg.Token, cfg.TraceContextLogs, &c)
		emit = nd.add
	}
	planner := NewPlanner(cfg.Seed, cfg.Users, cfg.Rates)
	if cfg.JudgeThreshold > 0 {
		planner.JudgeThreshold = cfg.JudgeThreshold
	}
	var enc *json.Encoder
	if cfg.Manifest != nil {
		enc = json.NewEncoder(cfg.Manifest)
	}
	var rep Report
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for i := 0; cfg.Count == 0 || i < cfg.Count; i++ {
		due := begin.Add(time.Duration(i) * interval)
		if cfg.Duration > 0 && due.Sub(begin) >= cfg.Duration {
			break
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		end := time.Now()
		if !cfg.Start.IsZero() {
			end = cfg.Start.Add(time.Duration(i) * interval)
		}
		sub := planner.Next(end)
		sdk.send(ctx, &sub, emit)
		if nd != nil {
			nd.maybeFlush(ctx)
		}
		e := sub.Entry()
		rep.Submissions++
		rep.SpansPlanned += e.Spans
		rep.LogsPlanned += e.Logs
		if enc != nil {
			if err := enc.Encode(e); err != nil {
				return rep, fmt.Errorf("writing manifest: %w", err)
			}
		}
	}
	// Flush with a fresh context: a canceled run still delivers what it
	// planned, so the manifest matches.
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if nd != nil {
		nd.flush(fctx)
	}
	if err := sdk.shutdown(fctx); err != nil {
		c.fail(err)
	}
	rep.Elapsed = time.Since(begin)
	rep.SpansSent, rep.LogsSent = c.spans.Load(), c.logs.Load()
	rep.SpansFailed, rep.LogsFailed = c.spanErrs.Load(), c.logErrs.Load()
	if b, ok := c.lastErr.Load().(errBox); ok {
		rep.LastError = b.err
	}
	if secs := rep.Elapsed.Seconds(); secs > 0 {
		rep.SubmissionsPS = float64(rep.Submissions) / secs
		rep.RecordsPS = float64(rep.SpansSent+rep.LogsSent) / secs
	}
	if rep.SpansSent != int64(rep.SpansPlanned) || rep.LogsSent != int64(rep.LogsPlanned) {
		return rep, fmt.Errorf("delivered %d of %d spans and %d of %d logs (last error: %v)",
			rep.SpansSent, rep.SpansPlanned, rep.LogsSent, rep.LogsPlanned, rep.LastError)
	}
	return rep, nil
}
