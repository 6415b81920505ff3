package ingest

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// TestIngest_StockOpenTelemetrySDK sends a span and a log written inside it
// with the unmodified OpenTelemetry Go SDK exporters, as a judge service
// would, and checks both arrive joined by ids and keyed by submit_id.
func TestIngest_StockOpenTelemetrySDK(t *testing.T) {
	e := newTestEnv(t, nil)
	e.now = time.Now()
	ctx := context.Background()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("judge"), semconv.K8SNamespaceName("oj"))

	texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(e.url+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(texp), sdktrace.WithResource(res))
	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(e.url+"/v1/logs"))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)), sdklog.WithResource(res))

	sctx, span := tp.Tracer("judge").Start(ctx, "judge")
	span.SetAttributes(attribute.String("submit_id", "S77"), attribute.Int("submission_seq", 7), attribute.String("stage", "judge"))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityWarn)
	rec.SetSeverityText("WARN")
	rec.SetBody(attribute.StringValue("test 5 close to the limit"))
	rec.AddAttributes(attribute.String("submit_id", "S77"), attribute.Int("test", 5))
	lp.Logger("judge").Emit(sctx, rec)
	span.SetStatus(codes.Error, "wrong answer")
	span.End()

	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("log exporter: %v", err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("trace exporter: %v", err)
	}
	recs := e.records(2)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	checkPartitioning(t, recs)
	var (
		l  *v1.Log
		sp *v1.Span
	)
	for _, r := range recs {
		if string(r.Key) != "S77" {
			t.Errorf("key %q, want S77", r.Key)
		}
		env := decodeEnvelope(t, r.Value)
		if env.GetLog() != nil {
			l = env.GetLog()
		} else {
			sp = env.GetSpan()
		}
	}
	if l == nil || sp == nil {
		t.Fatalf("log %v span %v", l, sp)
	}
	if string(l.SpanId) != string(sp.SpanId) || string(l.TraceId) != string(sp.TraceId) {
		t.Errorf("log ids %x/%x do not match span %x/%x", l.TraceId, l.SpanId, sp.TraceId, sp.SpanId)
	}
	if l.Service != "judge" || l.Resource.GetNamespace() != "oj" || l.SeverityNumber != v1.SeverityNumber_SEVERITY_NUMBER_WARN {
		t.Errorf("log = %v", l)
	}
	if sp.Status.GetCode() != v1.StatusCode_STATUS_CODE_ERROR || sp.Submission.GetSubmissionSeq() != 7 || sp.Submission.GetStage() != v1.Stage_STAGE_JUDGE {
		t.Errorf("span = %v", sp)
	}
}

// TestWireDecoder_MatchesProtoUnmarshalOnSDKRequests captures what the
// stock OpenTelemetry Go SDK exporters send over OTLP/HTTP (attributes of
// every kind, events, links, status) and compares the wire decoder with
// the reference path on those bodies.
func TestWireDecoder_MatchesProtoUnmarshalOnSDKRequests(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies = map[string][][]byte{}
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var src io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			src = zr
		}
		b, err := io.ReadAll(src)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies[r.URL.Path] = append(bodies[r.URL.Path], b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer hs.Close()

	ctx := context.Background()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("judge"), semconv.K8SPodName("judge-1"),
		attribute.StringSlice("tags", []string{"a", "b"}), attribute.Int64Slice("ports", []int64{1, 2}))
	texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(hs.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(texp), sdktrace.WithResource(res))
	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(hs.URL+"/v1/logs"))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)), sdklog.WithResource(res))

	_, parent := tp.Tracer("judge").Start(ctx, "submission")
	sctx, span := tp.Tracer("judge", trace.WithInstrumentationVersion("1.2")).Start(ctx, "judge",
		trace.WithLinks(trace.LinkFromContext(trace.ContextWithSpan(ctx, parent), attribute.String("why", "retry"))))
	span.SetAttributes(attribute.String("submit_id", "S77"), attribute.Int("submission_seq", 7), attribute.String("stage", "judge"),
		attribute.Bool("ok", false), attribute.Float64("score", 0.5), attribute.BoolSlice("bs", []bool{true}), attribute.Float64Slice("fs", []float64{1.5}))
	span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.message", "boom")))
	for _, body := range []attribute.Value{
		attribute.StringValue("test 5 close to the limit"), attribute.IntValue(42), attribute.ByteSliceValue([]byte{0, 1, 2}),
		attribute.MapValue(attribute.String("k", "v"), attribute.Slice("s", attribute.Float64Value(1.5), attribute.BoolValue(true))),
		{},
	} {
		var rec otellog.Record
		rec.SetTimestamp(time.Unix(1_799_999_000, 5))
		rec.SetSeverity(otellog.SeverityWarn)
		rec.SetSeverityText("WARN")
		rec.SetBody(body)
		rec.AddAttributes(attribute.String("submit_id", "S77"), attribute.Int("test", 5), attribute.Map("m", attribute.String("a", "b")),
			attribute.ByteSlice("raw", []byte("xy")), attribute.Slice("l", attribute.StringValue("x")), attribute.KeyValue{Key: "none"})
		lp.Logger("judge", otellog.WithInstrumentationVersion("1.2")).Emit(sctx, rec)
	}
	span.SetStatus(codes.Error, "wrong answer")
	span.End()
	parent.End()
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("log exporter: %v", err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("trace exporter: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies["/v1/logs"]) != 5 || len(bodies["/v1/traces"]) != 2 {
		t.Fatalf("captured %d log and %d trace requests, want 5 and 2", len(bodies["/v1/logs"]), len(bodies["/v1/traces"]))
	}
	for _, b := range bodies["/v1/logs"] {
		if !compareLogsDecoders(t, b) {
			t.Fatalf("SDK logs request rejected: %x", b)
		}
	}
	for _, b := range bodies["/v1/traces"] {
		if !compareTracesDecoders(t, b) {
			t.Fatalf("SDK traces request rejected: %x", b)
		}
	}
}
