package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	// The gzip compressor, which OTLP exporters use when compression is
	// on; the package registers itself with grpc when imported.
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GRPCServer returns a gRPC server with the OTLP logs and trace services
// (opentelemetry.proto.collector.{logs,trace}.v1) and a metrics service
// that refuses every export. It applies the HTTP receiver's limits, auth
// and TLS, and answers an export only after Kafka acknowledged its records.
func (s *Server) GRPCServer() (*grpc.Server, error) {
	opts := []grpc.ServerOption{
		// max_body_bytes bounds the message before and after gzip, as it
		// bounds the HTTP body: grpc checks both sizes against it and
		// answers RESOURCE_EXHAUSTED without retry info, which OTLP
		// clients do not retry.
		grpc.MaxRecvMsgSize(int(min(s.cfg.MaxBodyBytes, 1<<31-1))),
		grpc.ChainUnaryInterceptor(s.grpcObserve, s.grpcAuth),
	}
	if s.cfg.TLS.CertFile != "" {
		creds, err := credentials.NewServerTLSFromFile(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading ingest.tls for grpc: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	// The export requests are decoded by the wire decoder, as over HTTP.
	// The codec is the server's, not registered globally: every other
	// message (responses, the metrics service) goes to grpc's proto codec.
	opts = append(opts, grpc.ForceServerCodecV2(otlpCodec{proto: encoding.GetCodecV2(grpcproto.Name), scratch: &s.scratch}))
	gs := grpc.NewServer(opts...)
	gs.RegisterService(&logsServiceDesc, s)
	gs.RegisterService(&traceServiceDesc, s)
	colmetricspb.RegisterMetricsServiceServer(gs, grpcMetrics{})
	return gs, nil
}

// ServeGRPC serves OTLP/gRPC on ln until ctx is done, then stops accepting
// and lets in-flight exports finish (they wait for Kafka) for up to grace
// before closing what is left, and returns.
func (s *Server) ServeGRPC(ctx context.Context, ln net.Listener, grace time.Duration) error {
	gs, err := s.GRPCServer()
	if err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving ingest grpc: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.logger.Warn("grpc exports still running after shutdown_timeout; closing them", "grace", grace)
		gs.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving ingest grpc: %w", err)
	}
	return nil
}

// otlpCodec decodes the OTLP logs and traces export requests with the
// wire decoder (into *otlpLogs, *otlpTraces) and leaves everything else to
// grpc's proto codec.
type otlpCodec struct {
	proto   encoding.CodecV2
	scratch *scratchPool
}

func (c otlpCodec) Name() string { return c.proto.Name() }

func (c otlpCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

// Unmarshal decodes from a copy of data: grpc reuses data's buffers once
// Unmarshal returns, and the decoded records point into their buffer.
func (c otlpCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch req := v.(type) {
	case *otlpLogs:
		return newWireDecoder(data.Materialize(), c.scratch.get()).logsRequest(req)
	case *otlpTraces:
		return newWireDecoder(data.Materialize(), c.scratch.get()).tracesRequest(req)
	}
	return c.proto.Unmarshal(data, v)
}

// otlpExporter is what the hand-written service descriptions below call;
// *Server implements it.
type otlpExporter interface {
	exportLogs(endpoint string, req *otlpLogs, bad map[int]rejection) (*collogspb.ExportLogsServiceResponse, *httpError)
	exportTraces(endpoint string, req *otlpTraces, bad map[int]rejection) (*coltracepb.ExportTraceServiceResponse, *httpError)
	grpcError(herr *httpError) error
	// putScratch takes back a request's scratch once it was answered.
	putScratch(sc *requestScratch)
}

// logsServiceDesc is opentelemetry.proto.collector.logs.v1.LogsService,
// written out (instead of the generated RegisterLogsServiceServer) so that
// its request is the wire decoder's type.
var logsServiceDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.logs.v1.LogsService",
	HandlerType: (*otlpExporter)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Export",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			req := new(otlpLogs)
			// The request's values go back to the pool once the
			// export is answered (the response holds none of them).
			defer func() { srv.(otlpExporter).putScratch(req.scratch) }()
			if err := dec(req); err != nil {
				return nil, err
			}
			export := func(_ context.Context, req any) (any, error) {
				e := srv.(otlpExporter)
				resp, herr := e.exportLogs(endpointGRPCLogs, req.(*otlpLogs), nil)
				if herr != nil {
					return nil, e.grpcError(herr)
				}
				return resp, nil
			}
			if interceptor == nil {
				return export(ctx, req)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/opentelemetry.proto.collector.logs.v1.LogsService/Export"}
			return interceptor(ctx, req, info, export)
		},
	}},
	Metadata: "opentelemetry/proto/collector/logs/v1/logs_service.proto",
}

// traceServiceDesc is logsServiceDesc for
// opentelemetry.proto.collector.trace.v1.TraceService.
var traceServiceDesc = grpc.ServiceDesc{
	ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
	HandlerType: (*otlpExporter)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Export",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			req := new(otlpTraces)
			// The request's values go back to the pool once the
			// export is answered (the response holds none of them).
			defer func() { srv.(otlpExporter).putScratch(req.scratch) }()
			if err := dec(req); err != nil {
				return nil, err
			}
			export := func(_ context.Context, req any) (any, error) {
				e := srv.(otlpExporter)
				resp, herr := e.exportTraces(endpointGRPCTraces, req.(*otlpTraces), nil)
				if herr != nil {
					return nil, e.grpcError(herr)
				}
				return resp, nil
			}
			if interceptor == nil {
				return export(ctx, req)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/opentelemetry.proto.collector.trace.v1.TraceService/Export"}
			return interceptor(ctx, req, info, export)
		},
	}},
	Metadata: "opentelemetry/proto/collector/trace/v1/trace_service.proto",
}

// grpcMetrics refuses metrics exports with a message, rather than grpc's
// "unknown service": UNIMPLEMENTED is not retryable in OTLP, so each
// batch fails once with the reason in the SDK's log.
type grpcMetrics struct {
	colmetricspb.UnimplementedMetricsServiceServer
}

func (grpcMetrics) Export(context.Context, *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	return nil, status.Error(codes.Unimplemented, metricsRefusal)
}

// grpcError maps a whole-request error to the OTLP/gRPC status ("Failures"
// in the OTLP specification): a full buffer is RESOURCE_EXHAUSTED and
// Kafka not acknowledging is UNAVAILABLE, both with RetryInfo so clients
// retry after retry_after; anything about the data is INVALID_ARGUMENT,
// which clients drop.
func (s *Server) grpcError(herr *httpError) error {
	code := codes.InvalidArgument
	switch herr.status {
	case http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	}
	st := status.New(code, herr.msg)
	if herr.retryAfter {
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(s.cfg.RetryAfter)}); err == nil {
			st = withInfo
		}
	}
	return st.Err()
}

// grpcAuth requires the bearer token in the authorization metadata, as
// the HTTP receiver requires it in the header.
func (s *Server) grpcAuth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.token != nil {
		md, _ := metadata.FromIncomingContext(ctx)
		ok := false
		for _, v := range md.Get("authorization") {
			if s.tokenOK(v) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, status.Error(codes.Unauthenticated, "missing or wrong bearer token")
		}
	}
	return handler(ctx, req)
}

// grpcObserve counts requests by endpoint and status code name.
func (s *Server) grpcObserve(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	endpoint := endpointGRPCMetrics
	switch {
	case strings.HasPrefix(info.FullMethod, "/opentelemetry.proto.collector.logs."):
		endpoint = endpointGRPCLogs
	case strings.HasPrefix(info.FullMethod, "/opentelemetry.proto.collector.trace."):
		endpoint = endpointGRPCTraces
	}
	resp, err := handler(ctx, req)
	s.m.requests.WithLabelValues(endpoint, status.Code(err).String()).Inc()
	s.m.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	return resp, err
}
