package ingest

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// grpcConn dials the test server's gRPC address.
func (e *testEnv) grpcConn() *grpc.ClientConn {
	e.t.Helper()
	conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

// TestGRPC_StockSDKExporters sends a span and two logs written inside it
// with the unmodified OpenTelemetry Go SDK gRPC exporters, with and
// without gzip, and a bearer token: records land keyed by submit_id, and
// by trace id when the log carries only the trace context.
func TestGRPC_StockSDKExporters(t *testing.T) {
	for _, compressor := range []string{"none", "gzip"} {
		t.Run(compressor, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.Auth.Token = "t0ken" })
			e.now = time.Now()
			ctx := context.Background()
			res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("judge"))
			headers := map[string]string{"Authorization": "Bearer t0ken"}
			topts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL("http://" + e.grpcAddr), otlptracegrpc.WithHeaders(headers)}
			lopts := []otlploggrpc.Option{otlploggrpc.WithEndpointURL("http://" + e.grpcAddr), otlploggrpc.WithHeaders(headers)}
			if compressor == "gzip" {
				topts = append(topts, otlptracegrpc.WithCompressor("gzip"))
				lopts = append(lopts, otlploggrpc.WithCompressor("gzip"))
			}
			texp, err := otlptracegrpc.New(ctx, topts...)
			if err != nil {
				t.Fatal(err)
			}
			lexp, err := otlploggrpc.New(ctx, lopts...)
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp)), sdklog.WithResource(res))

			sctx, span := tp.Tracer("judge").Start(ctx, "judge")
			span.SetAttributes(attribute.String("submit_id", "S77"), attribute.String("stage", "judge"))
			for _, withSubmit := range []bool{true, false} {
				var rec otellog.Record
				rec.SetTimestamp(time.Now())
				rec.SetSeverity(otellog.SeverityError)
				rec.SetBody(attribute.StringValue("runtime error"))
				if withSubmit {
					rec.AddAttributes(attribute.String("submit_id", "S77"))
				}
				lp.Logger("judge").Emit(sctx, rec)
			}
			span.SetStatus(codes.Error, "runtime error")
			span.End()
			if err := lp.Shutdown(ctx); err != nil {
				t.Fatalf("log exporter: %v", err)
			}
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatalf("trace exporter: %v", err)
			}

			recs := e.records(3)
			if len(recs) != 3 {
				t.Fatalf("%d records, want 3", len(recs))
			}
			checkPartitioning(t, recs)
			traceHex := span.SpanContext().TraceID().String()
			keys := map[string]int{}
			for _, r := range recs {
				env := decodeEnvelope(t, r.Value)
				keys[string(r.Key)]++
				if l := env.GetLog(); l != nil && hex.EncodeToString(l.SpanId) != span.SpanContext().SpanID().String() {
					t.Errorf("log span id %x, want the span's", l.SpanId)
				}
				if sp := env.GetSpan(); sp != nil && sp.Status.GetCode() != v1.StatusCode_STATUS_CODE_ERROR {
					t.Errorf("span status %v", sp.Status)
				}
			}
			if keys["S77"] != 2 || keys[traceHex] != 1 {
				t.Errorf("keys %v, want S77 twice and the trace id %s once", keys, traceHex)
			}
			if got := counter(t, e.srv.m.accepted.WithLabelValues(endpointGRPCLogs)); got != 2 {
				t.Errorf("grpc logs accepted = %v, want 2", got)
			}
			if got := counter(t, e.srv.m.requests.WithLabelValues(endpointGRPCTraces, "OK")); got != 1 {
				t.Errorf("grpc trace requests OK = %v, want 1", got)
			}
		})
	}
}

// failProduce makes the broker answer every produce request with a
// retriable error while down is set.
func failProduce(e *testEnv, down *atomic.Bool) {
	e.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// When Kafka does not acknowledge, an export is UNAVAILABLE with RetryInfo
// (retry_after), and the stock SDK exporter retries it until it is stored.
func TestGRPC_KafkaUnavailableIsRetryable(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.ProduceTimeout = time.Second
		c.RetryAfter = time.Second
	})
	var down atomic.Bool
	down.Store(true)
	failProduce(e, &down)

	// The status, as a raw client sees it.
	_, err := coltracepb.NewTraceServiceClient(e.grpcConn()).Export(context.Background(), tracesRequest())
	st := status.Convert(err)
	if st.Code() != grpccodes.Unavailable || !strings.Contains(st.Message(), "kafka did not acknowledge the records") {
		t.Fatalf("status %v, want UNAVAILABLE", st)
	}
	var info *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	if info == nil || info.GetRetryDelay().AsDuration() != time.Second {
		t.Fatalf("details %v, want RetryInfo with a 1s delay", st.Details())
	}

	// The stock exporter: retries until the broker is back.
	texp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL("http://"+e.grpcAddr),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 100 * time.Millisecond,
			MaxInterval: time.Second, MaxElapsedTime: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	defer texp.Shutdown(context.Background())
	exported := make(chan error, 1)
	go func() { exported <- texp.ExportSpans(context.Background(), judgeSpanStub(e.now).Snapshots()) }()
	unavailable := e.srv.m.requests.WithLabelValues(endpointGRPCTraces, "Unavailable")
	waitFor(t, 30*time.Second, "a second UNAVAILABLE answer", func() bool { return counter(t, unavailable) >= 2 })
	down.Store(false)
	if err := <-exported; err != nil {
		t.Fatalf("exporter gave up: %v", err)
	}
	var found bool
	for _, r := range e.records(1) {
		if sp := decodeEnvelope(t, r.Value).GetSpan(); sp != nil && sp.Name == "judge-retried" {
			found = true
		}
	}
	if !found {
		t.Errorf("the retried span is not in the topic")
	}
}

func judgeSpanStub(now time.Time) tracetest.SpanStubs {
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	return tracetest.SpanStubs{{
		Name:        "judge-retried",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}),
		StartTime:   now.Add(-time.Second), EndTime: now,
		Attributes: []attribute.KeyValue{attribute.String("submit_id", "S9")},
		Resource:   resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("judge")),
	}}
}

// A full producer buffer is RESOURCE_EXHAUSTED with RetryInfo, which OTLP
// clients retry.
func TestGRPC_BufferFullIsResourceExhausted(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxBufferedRecords = 1 })
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{}}}}}
	for i := 0; i < 200; i++ {
		req.ResourceLogs[0].ScopeLogs[0].LogRecords = append(req.ResourceLogs[0].ScopeLogs[0].LogRecords,
			&logspb.LogRecord{TimeUnixNano: uint64(i + 1), Attributes: []*commonpb.KeyValue{intAttr("i", int64(i))}})
	}
	_, err := collogspb.NewLogsServiceClient(e.grpcConn()).Export(context.Background(), req)
	st := status.Convert(err)
	if st.Code() != grpccodes.ResourceExhausted || len(st.Details()) != 1 {
		t.Fatalf("status %v details %v, want RESOURCE_EXHAUSTED with RetryInfo", st, st.Details())
	}
	if _, ok := st.Details()[0].(*errdetails.RetryInfo); !ok {
		t.Errorf("detail %T, want RetryInfo", st.Details()[0])
	}
}

// Bad records are rejected alone (partial success), bad requests are
// INVALID_ARGUMENT or RESOURCE_EXHAUSTED without retry info (both not
// retried), and a missing token is UNAUTHENTICATED, also for the stock
// exporters.
func TestGRPC_RejectionsAndAuth(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.Auth.Token = "t0ken"
		c.MaxRecordsPerRequest = 3
		c.MaxBodyBytes = 64 << 10
	})
	e.now = time.Unix(1_800_000_000, 0)
	authed := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer t0ken")
	traces := coltracepb.NewTraceServiceClient(e.grpcConn())
	logs := collogspb.NewLogsServiceClient(e.grpcConn())

	t.Run("partial success", func(t *testing.T) {
		req := tracesRequest()
		spans := &req.ResourceSpans[0].ScopeSpans[0].Spans
		*spans = append(*spans, &tracepb.Span{TraceId: []byte{1, 2, 3}, SpanId: spanA, Name: "bad"},
			&tracepb.Span{TraceId: traceA, SpanId: spanB, Name: "future", StartTimeUnixNano: 1_900_000_000_000_000_000})
		resp, err := traces.Export(authed, req)
		if err != nil {
			t.Fatal(err)
		}
		ps := resp.GetPartialSuccess()
		if ps.GetRejectedSpans() != 2 || !strings.Contains(ps.GetErrorMessage(), "span 1: trace_id must be 16 bytes") ||
			!strings.Contains(ps.GetErrorMessage(), "span 2: timestamp") {
			t.Fatalf("partial success = %v", ps)
		}
		recs := e.records(1)
		if len(recs) != 1 || string(recs[0].Key) != "S1001" {
			t.Errorf("records %v, want the good span keyed S1001", recs)
		}
	})
	t.Run("too many records", func(t *testing.T) {
		req := logsRequest()
		lr := &req.ResourceLogs[0].ScopeLogs[0].LogRecords
		*lr = append(*lr, (*lr)[0])
		_, err := logs.Export(authed, req)
		if st := status.Convert(err); st.Code() != grpccodes.InvalidArgument || !strings.Contains(st.Message(), "more than max_records_per_request 3") {
			t.Errorf("status %v, want INVALID_ARGUMENT", st)
		}
	})
	t.Run("too large", func(t *testing.T) {
		req := logsRequest()
		req.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", 70<<10)}}
		// Also gzipped (a few hundred bytes on the wire): the limit holds
		// after decompression.
		for _, opts := range [][]grpc.CallOption{nil, {grpc.UseCompressor("gzip")}} {
			_, err := logs.Export(authed, req, opts...)
			if st := status.Convert(err); st.Code() != grpccodes.ResourceExhausted || len(st.Details()) != 0 {
				t.Errorf("status %v %v, want RESOURCE_EXHAUSTED without retry info", st, st.Details())
			}
		}
	})
	t.Run("metrics refused", func(t *testing.T) {
		_, err := colmetricspb.NewMetricsServiceClient(e.grpcConn()).Export(authed, &colmetricspb.ExportMetricsServiceRequest{})
		if st := status.Convert(err); st.Code() != grpccodes.Unimplemented || !strings.Contains(st.Message(), "logweave does not accept metrics") {
			t.Errorf("status %v, want UNIMPLEMENTED with a message", st)
		}
	})
	t.Run("no token", func(t *testing.T) {
		for _, ctx := range []context.Context{context.Background(),
			metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nope")} {
			_, err := logs.Export(ctx, logsRequest())
			if st := status.Convert(err); st.Code() != grpccodes.Unauthenticated {
				t.Errorf("status %v, want UNAUTHENTICATED", st)
			}
		}
		texp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL("http://"+e.grpcAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer texp.Shutdown(context.Background())
		err = texp.ExportSpans(context.Background(), judgeSpanStub(e.now).Snapshots())
		if st, _ := status.FromError(unwrapAll(err)); st.Code() != grpccodes.Unauthenticated {
			t.Errorf("stock exporter without a token: %v, want UNAUTHENTICATED", err)
		}
		lexp, err := otlploggrpc.New(context.Background(), otlploggrpc.WithEndpointURL("http://"+e.grpcAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer lexp.Shutdown(context.Background())
		var rec sdklog.Record
		rec.SetBody(attribute.StringValue("x"))
		if err := lexp.Export(context.Background(), []sdklog.Record{rec}); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
			t.Errorf("stock log exporter without a token: %v, want Unauthenticated", err)
		}
	})
	if got := counter(t, e.srv.m.requests.WithLabelValues(endpointGRPCLogs, "Unauthenticated")); got < 2 {
		t.Errorf("unauthenticated requests counted %v", got)
	}
}

// unwrapAll returns the innermost wrapped error.
func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stopping the gRPC server lets an export that waits for Kafka finish and
// get its answer, then ServeGRPC returns.
func TestGRPC_GracefulStopWaitsForKafka(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.ProduceTimeout = 20 * time.Second })
	var down atomic.Bool
	down.Store(true)
	var attempts atomic.Int64
	e.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		attempts.Add(1)
		return nil, nil, false
	})
	failProduce(e, &down)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.ServeGRPC(ctx, ln, 30*time.Second) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exported := make(chan error, 1)
	go func() {
		_, err := coltracepb.NewTraceServiceClient(conn).Export(context.Background(), tracesRequest())
		exported <- err
	}()
	waitFor(t, 10*time.Second, "the export to reach Kafka", func() bool { return attempts.Load() > 0 })
	cancel()
	select {
	case err := <-served:
		t.Fatalf("ServeGRPC returned (%v) while an export waited for Kafka", err)
	case err := <-exported:
		t.Fatalf("export answered (%v) while Kafka was down", err)
	default:
	}
	down.Store(false)
	t0 := time.Now()
	if err := <-exported; err != nil {
		t.Fatalf("export: %v, want OK after Kafka acknowledged", err)
	}
	t.Logf("answered %s after Kafka came back, %d produce attempts", time.Since(t0), attempts.Load())
	if err := <-served; err != nil {
		t.Fatalf("ServeGRPC: %v", err)
	}
	if len(e.records(1)) != 1 {
		t.Errorf("the span is not in the topic")
	}
}

func TestConfig_GRPCListen(t *testing.T) {
	if got := Default().GRPCListen; got != "127.0.0.1:4317" {
		t.Errorf("default grpc_listen %q, want 127.0.0.1:4317", got)
	}
	for _, tt := range []struct {
		value   string
		wantErr bool
	}{{"127.0.0.1:4317", false}, {"", false}, {":4317", false}, {"4317", true}} {
		c := Default()
		c.GRPCListen = tt.value
		err := c.Validate()
		if (err != nil) != tt.wantErr || err != nil && !strings.Contains(err.Error(), "grpc_listen: ") {
			t.Errorf("grpc_listen %q: %v", tt.value, err)
		}
	}
}
