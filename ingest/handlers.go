package ingest

import (
	"encoding/json"
	"mime"
	"net/http"
	"sort"
	"strconv"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// gRPC status codes used in google.rpc.Status error bodies, as the OTLP/HTTP
// specification asks.
const (
	codeInvalidArgument   = 3
	codeResourceExhausted = 8
	codeUnimplemented     = 12
	codeUnavailable       = 14
	codeUnauthenticated   = 16
)

func (s *Server) handleLogs(w http.ResponseWriter, r *request) int {
	sc := s.scratch.get()
	defer s.scratch.put(sc) // after the answer is written
	req, bad, err := decodeLogs(r.body, r.json, sc)
	if err != nil {
		return s.fail(w, endpointLogs, r.json, errorf(http.StatusBadRequest, "malformed OTLP logs request: %v", err))
	}
	resp, herr := s.exportLogs(endpointLogs, req, bad)
	if herr != nil {
		return s.fail(w, endpointLogs, r.json, herr)
	}
	s.writeProto(w, http.StatusOK, r.json, resp)
	return http.StatusOK
}

func (s *Server) handleTraces(w http.ResponseWriter, r *request) int {
	sc := s.scratch.get()
	defer s.scratch.put(sc) // after the answer is written
	req, bad, err := decodeTraces(r.body, r.json, sc)
	if err != nil {
		return s.fail(w, endpointTraces, r.json, errorf(http.StatusBadRequest, "malformed OTLP traces request: %v", err))
	}
	resp, herr := s.exportTraces(endpointTraces, req, bad)
	if herr != nil {
		return s.fail(w, endpointTraces, r.json, herr)
	}
	s.writeProto(w, http.StatusOK, r.json, resp)
	return http.StatusOK
}

// exportLogs maps, checks and produces a decoded OTLP logs request, for
// either transport: the response (with partial success when some records
// were rejected) once Kafka acknowledged every accepted record, or a
// whole-request error. bad are records already rejected by the decoder.
func (s *Server) exportLogs(endpoint string, req *otlpLogs, bad map[int]rejection) (*collogspb.ExportLogsServiceResponse, *httpError) {
	envs, pos, rejs := s.logsToEnvelopes(req, uint64(s.now().UnixNano()), bad)
	n, msg, herr := s.exportOTLP(endpoint, "log record", "log records", req.records, envs, pos, rejs)
	if herr != nil {
		return nil, herr
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if n > 0 {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: n, ErrorMessage: msg}
	}
	return resp, nil
}

// exportTraces is exportLogs for spans.
func (s *Server) exportTraces(endpoint string, req *otlpTraces, bad map[int]rejection) (*coltracepb.ExportTraceServiceResponse, *httpError) {
	envs, pos, rejs := s.tracesToEnvelopes(req, bad)
	n, msg, herr := s.exportOTLP(endpoint, "span", "spans", req.spans, envs, pos, rejs)
	if herr != nil {
		return nil, herr
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if n > 0 {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: n, ErrorMessage: msg}
	}
	return resp, nil
}

// exportOTLP enforces the request limits and produces. It returns the
// number of rejected records and a message naming them, or a
// whole-request error.
func (s *Server) exportOTLP(endpoint, singular, plural string, total int, envs []*v1.Envelope, pos []int, rejs []rejection) (int64, string, *httpError) {
	s.m.received.WithLabelValues(endpoint).Add(float64(total))
	if total > s.cfg.MaxRecordsPerRequest {
		s.m.rejected.WithLabelValues(endpoint, "too_many_records").Add(float64(total))
		return 0, "", errorf(http.StatusRequestEntityTooLarge,
			"request has %d records, more than max_records_per_request %d: split the batch", total, s.cfg.MaxRecordsPerRequest)
	}
	recs, rejs := s.prepare(envs, pos, rejs)
	if herr := s.produce(recs); herr != nil {
		s.countRejections(endpoint, rejs)
		s.m.rejected.WithLabelValues(endpoint, "unavailable").Add(float64(len(recs)))
		return 0, "", herr
	}
	s.countRejections(endpoint, rejs)
	s.m.accept(endpoint, len(recs))
	if len(rejs) == 0 {
		return 0, "", nil
	}
	return int64(len(rejs)), rejectionSummary(rejs, singular, plural), nil
}

// metricsRefusal is the answer to OTLP metrics exports, over either
// transport.
const metricsRefusal = "logweave does not accept metrics, only logs (/v1/logs) and traces (/v1/traces): " +
	"send metrics elsewhere or turn the metrics exporter off (OTEL_METRICS_EXPORTER=none)"

// handleMetrics answers POST /v1/metrics, which every SDK sends when one
// OTEL_EXPORTER_OTLP_ENDPOINT points at logweave. The status is 404 with a
// google.rpc.Status saying why, not 501: OTLP/HTTP clients retry only 429,
// 502, 503 and 504 by the specification, but some exporters (Python's)
// retry every 5xx with backoff, while no exporter retries a 404, so each
// metrics batch fails once with this message in the SDK's log.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	s.writeProto(w, http.StatusNotFound, ct != "application/x-protobuf", &statuspb.Status{Code: codeUnimplemented, Message: metricsRefusal})
	s.m.requests.WithLabelValues(endpointMetrics, strconv.Itoa(http.StatusNotFound)).Inc()
}

// ndjsonResponse is the body of every /v1/ndjson answer.
type ndjsonResponse struct {
	Accepted int            `json:"accepted"`
	Rejected []ndjsonReject `json:"rejected,omitempty"`
	Error    string         `json:"error,omitempty"`
}

type ndjsonReject struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func (s *Server) handleNDJSON(w http.ResponseWriter, r *request) int {
	envs, lines, rejs := s.parseNDJSON(r.body, uint64(s.now().UnixNano()))
	total := len(envs) + len(rejs)
	s.m.received.WithLabelValues(endpointNDJSON).Add(float64(total))
	if total > s.cfg.MaxRecordsPerRequest {
		s.m.rejected.WithLabelValues(endpointNDJSON, "too_many_records").Add(float64(total))
		return s.fail(w, endpointNDJSON, true, errorf(http.StatusRequestEntityTooLarge,
			"request has %d lines, more than max_records_per_request %d: split the batch", total, s.cfg.MaxRecordsPerRequest))
	}
	recs, rejs := s.prepare(envs, lines, rejs)
	sort.SliceStable(rejs, func(i, j int) bool { return rejs[i].index < rejs[j].index })
	if herr := s.produce(recs); herr != nil {
		s.countRejections(endpointNDJSON, rejs)
		s.m.rejected.WithLabelValues(endpointNDJSON, "unavailable").Add(float64(len(recs)))
		return s.fail(w, endpointNDJSON, true, herr)
	}
	s.countRejections(endpointNDJSON, rejs)
	s.m.accept(endpointNDJSON, len(recs))
	resp := ndjsonResponse{Accepted: len(recs)}
	for _, rj := range rejs {
		resp.Rejected = append(resp.Rejected, ndjsonReject{Line: rj.index, Reason: rj.reason, Error: rj.err})
	}
	code := http.StatusOK
	switch {
	case total == 0:
		// An empty body (or only blank lines) stored nothing; a client
		// that sent it has a bug to hear about.
		code = http.StatusBadRequest
		resp.Error = "no line was accepted: the body has no lines"
	case len(recs) == 0:
		code = http.StatusBadRequest
		resp.Error = "no line was accepted"
	}
	writeJSON(w, code, resp)
	return code
}

// fail writes a whole-request error and returns its status.
func (s *Server) fail(w http.ResponseWriter, endpoint string, isJSON bool, herr *httpError) int {
	s.writeError(w, endpoint, isJSON, herr)
	return herr.status
}

func (s *Server) writeError(w http.ResponseWriter, endpoint string, isJSON bool, herr *httpError) {
	if herr.retryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
	}
	if herr.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="logweave"`)
	}
	if endpoint == endpointNDJSON {
		writeJSON(w, herr.status, ndjsonResponse{Error: herr.msg})
		return
	}
	code := int32(codeInvalidArgument)
	switch herr.status {
	case http.StatusTooManyRequests:
		code = codeResourceExhausted
	case http.StatusServiceUnavailable:
		code = codeUnavailable
	case http.StatusUnauthorized:
		code = codeUnauthenticated
	case http.StatusMethodNotAllowed:
		code = codeUnimplemented
	}
	s.writeProto(w, herr.status, isJSON, &statuspb.Status{Code: code, Message: herr.msg})
}

func (s *Server) writeProto(w http.ResponseWriter, status int, isJSON bool, m proto.Message) {
	var (
		b   []byte
		err error
	)
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		b, err = protojson.Marshal(m)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, err = proto.Marshal(m)
	}
	if err != nil {
		s.logger.Error("encoding response", "err", err)
	}
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}
