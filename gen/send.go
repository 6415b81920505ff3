package gen

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// counts is what the exporters report as exported or failed.
type counts struct {
	spans, logs       atomic.Int64
	spanErrs, logErrs atomic.Int64
	lastErr           atomic.Value // error
}

func (c *counts) fail(err error) {
	c.lastErr.Store(errBox{err})
}

type errBox struct{ err error }

// sdkSender sends spans, and logs unless NDJSON carries them, through the
// stock OpenTelemetry Go SDK: one tracer and logger provider per service,
// so each service has its own resource and its own batch timers, as in a
// real deployment.
type sdkSender struct {
	tps map[string]*sdktrace.TracerProvider
	lps map[string]*sdklog.LoggerProvider
	c   *counts
	// traceContextLogs leaves the submission attributes off the logs.
	traceContextLogs bool
}

func newSDKSender(ctx context.Context, cfg *Config, c *counts) (*sdkSender, error) {
	s := &sdkSender{tps: map[string]*sdktrace.TracerProvider{}, lps: map[string]*sdklog.LoggerProvider{}, c: c,
		traceContextLogs: cfg.TraceContextLogs}
	// The stage services first, the root service last: PhaseOffset puts
	// the root's batch timers that far behind the others'.
	var services []string
	for _, st := range stages {
		services = append(services, st.service)
	}
	services = append(services, RootService)
	for _, svc := range services {
		if svc == RootService && cfg.PhaseOffset > 0 {
			select {
			case <-time.After(cfg.PhaseOffset):
			case <-ctx.Done():
				s.shutdown(context.Background())
				return nil, ctx.Err()
			}
		}
		if err := s.addService(ctx, cfg, svc); err != nil {
			s.shutdown(context.Background())
			return nil, err
		}
	}
	return s, nil
}

// addService creates the exporters and providers of one service.
func (s *sdkSender) addService(ctx context.Context, cfg *Config, svc string) error {
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(svc),
		semconv.K8SNamespaceName("oj"), semconv.K8SPodName(svc+"-0"), semconv.K8SNodeName("node-1"), semconv.K8SClusterName("dev"))
	texp, lexp, err := newExporters(ctx, cfg)
	if err != nil {
		return err
	}
	spans := &countingSpanExporter{SpanExporter: texp, c: s.c}
	var bsp sdktrace.SpanProcessor
	if cfg.DefaultBatching {
		bsp = sdktrace.NewBatchSpanProcessor(spans)
	} else {
		// Blocking: a full queue slows the generator down instead of
		// dropping spans, so the manifest stays exact.
		bsp = sdktrace.NewBatchSpanProcessor(spans, sdktrace.WithBlocking(), sdktrace.WithMaxQueueSize(65536),
			sdktrace.WithMaxExportBatchSize(1024), sdktrace.WithBatchTimeout(200*time.Millisecond))
	}
	s.tps[svc] = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithIDGenerator(plannedIDs{}),
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(bsp))
	if lexp == nil {
		return nil
	}
	logs := &countingLogExporter{Exporter: lexp, c: s.c}
	// The log queue is a ring that drops its oldest records when full; Run
	// compares exported counts with the plan and fails on any loss.
	var blp *sdklog.BatchProcessor
	if cfg.DefaultBatching {
		blp = sdklog.NewBatchProcessor(logs)
	} else {
		blp = sdklog.NewBatchProcessor(logs, sdklog.WithMaxQueueSize(65536), sdklog.WithExportMaxBatchSize(2048),
			sdklog.WithExportInterval(200*time.Millisecond))
	}
	s.lps[svc] = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(blp))
	return nil
}

// newExporters returns the stock OTLP exporters of cfg's protocol, at
// their defaults apart from the endpoint and the token; the log exporter
// is nil when logs go as NDJSON.
func newExporters(ctx context.Context, cfg *Config) (sdktrace.SpanExporter, sdklog.Exporter, error) {
	headers := map[string]string{}
	if cfg.Token != "" {
		headers["Authorization"] = "Bearer " + cfg.Token
	}
	withLogs := cfg.Logs == "otlp"
	var (
		texp sdktrace.SpanExporter
		lexp sdklog.Exporter
		err  error
	)
	if cfg.Protocol == "grpc" {
		texp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(cfg.GRPCURL), otlptracegrpc.WithHeaders(headers))
		if err == nil && withLogs {
			lexp, err = otlploggrpc.New(ctx, otlploggrpc.WithEndpointURL(cfg.GRPCURL), otlploggrpc.WithHeaders(headers))
		}
	} else {
		texp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.URL+"/v1/traces"), otlptracehttp.WithHeaders(headers))
		if err == nil && withLogs {
			lexp, err = otlploghttp.New(ctx, otlploghttp.WithEndpointURL(cfg.URL+"/v1/logs"), otlploghttp.WithHeaders(headers))
		}
	}
	if err != nil && texp != nil {
		texp.Shutdown(ctx) //nolint:errcheck // reporting the creation error
	}
	return texp, lexp, err
}

type idKey struct{}

type plannedID struct {
	trace [16]byte
	span  [8]byte
}

// plannedIDs makes the SDK use the planned ids carried in the context, so
// a seed reproduces the same trace and span ids.
type plannedIDs struct{}

func (plannedIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	p, _ := ctx.Value(idKey{}).(plannedID)
	return p.trace, p.span
}

func (plannedIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	p, _ := ctx.Value(idKey{}).(plannedID)
	return p.span
}

func submissionAttrs(s *Submission, stage string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("submit_id", s.SubmitID), attribute.String("user_id", s.UserID),
		attribute.String("problem_id", s.ProblemID), attribute.Int("submission_seq", s.Seq), attribute.String("lang", s.Lang),
	}
	if stage != "" {
		attrs = append(attrs, attribute.String("stage", stage))
	}
	return attrs
}

var severities = map[string]otellog.Severity{
	"debug": otellog.SeverityDebug, "info": otellog.SeverityInfo, "warn": otellog.SeverityWarn, "error": otellog.SeverityError,
}

// send emits one submission: stage spans with their logs, then the root.
// emitLog is nil when logs go through the SDK.
func (s *sdkSender) send(ctx context.Context, sub *Submission, emitLog func(*Submission, *Span, *Log)) {
	root := &sub.Spans[0]
	rctx := context.WithValue(ctx, idKey{}, plannedID{trace: sub.TraceID, span: root.ID})
	rctx, rspan := s.tps[root.Service].Tracer("logweave-gen").Start(rctx, root.Name,
		trace.WithTimestamp(root.Start), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(submissionAttrs(sub, "")...))
	for i := 1; i < len(sub.Spans); i++ {
		sp := &sub.Spans[i]
		cctx := context.WithValue(rctx, idKey{}, plannedID{span: sp.ID})
		cctx, span := s.tps[sp.Service].Tracer("logweave-gen").Start(cctx, sp.Name,
			trace.WithTimestamp(sp.Start), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(submissionAttrs(sub, sp.Stage)...))
		for j := range sp.Logs {
			l := &sp.Logs[j]
			if emitLog != nil {
				emitLog(sub, sp, l)
				continue
			}
			var rec otellog.Record
			rec.SetTimestamp(l.Time)
			rec.SetSeverity(severities[l.Level])
			rec.SetSeverityText(l.Level)
			rec.SetBody(attribute.StringValue(l.Body))
			if !s.traceContextLogs {
				rec.AddAttributes(submissionAttrs(sub, sp.Stage)...)
			}
			if l.Event {
				rec.AddAttributes(attribute.String("log_type", "event"), attribute.String("k8s.event.reason", l.Reason))
			}
			s.lps[sp.Service].Logger("logweave-gen").Emit(cctx, rec)
		}
		if sp.Error {
			span.SetStatus(codes.Error, sp.ErrorMsg)
		} else {
			span.SetStatus(codes.Ok, "")
		}
		span.End(trace.WithTimestamp(sp.End))
	}
	if root.Error {
		rspan.SetStatus(codes.Error, root.ErrorMsg)
	} else {
		rspan.SetStatus(codes.Ok, "")
	}
	rspan.End(trace.WithTimestamp(root.End))
}

// shutdown flushes every provider's queue (ForceFlush), then stops them,
// so every record emitted is exported whatever its batch timer says.
func (s *sdkSender) shutdown(ctx context.Context) error {
	var errs []error
	for _, lp := range s.lps {
		errs = append(errs, lp.ForceFlush(ctx))
	}
	for _, tp := range s.tps {
		errs = append(errs, tp.ForceFlush(ctx))
	}
	for _, lp := range s.lps {
		errs = append(errs, lp.Shutdown(ctx))
	}
	for _, tp := range s.tps {
		errs = append(errs, tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

type countingSpanExporter struct {
	sdktrace.SpanExporter
	c *counts
}

func (e *countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.c.spanErrs.Add(int64(len(spans)))
		e.c.fail(err)
		return err
	}
	e.c.spans.Add(int64(len(spans)))
	return nil
}

type countingLogExporter struct {
	sdklog.Exporter
	c *counts
}

func (e *countingLogExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	err := e.Exporter.Export(ctx, recs)
	if err != nil {
		e.c.logErrs.Add(int64(len(recs)))
		e.c.fail(err)
		return err
	}
	e.c.logs.Add(int64(len(recs)))
	return nil
}
