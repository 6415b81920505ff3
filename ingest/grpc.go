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
	gs := grpc.NewServer(opts...)
	collogspb.RegisterLogsServiceServer(gs, grpcLogs{s: s})
	coltracepb.RegisterTraceServiceServer(gs, grpcTraces{s: s})
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

type grpcLogs struct {
	collogspb.UnimplementedLogsServiceServer
	s *Server
}

func (g grpcLogs) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	resp, herr := g.s.exportLogs(endpointGRPCLogs, req, nil)
	if herr != nil {
		return nil, g.s.grpcError(herr)
	}
	return resp, nil
}

type grpcTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	s *Server
}

func (g grpcTraces) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	resp, herr := g.s.exportTraces(endpointGRPCTraces, req, nil)
	if herr != nil {
		return nil, g.s.grpcError(herr)
	}
	return resp, nil
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
