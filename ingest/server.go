package ingest

import (
	"compress/gzip"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Deps are the process-wide things a Server uses.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the ingest HTTP receiver.
type Server struct {
	cfg    Config
	topic  string
	cl     *kgo.Client
	logger *slog.Logger
	m      *metrics
	token  []byte
	now    func() time.Time
	// scratch keeps the slabs OTLP requests are decoded and mapped into.
	scratch scratchPool
	// produceBufs keeps the buffers of the records given to Kafka.
	produceBufs producePool
	// bodies keeps OTLP request body buffers.
	bodies bodyPool
}

// putScratch returns an answered OTLP request's slabs to the pool.
func (s *Server) putScratch(sc *requestScratch) { s.scratch.put(sc) }

// Accepted is the number of records Kafka acknowledged so far, over every
// endpoint (logweave_ingest_records_accepted_total), for callers in the same
// process such as the status line of logweave dev.
func (s *Server) Accepted() int64 { return s.m.acceptedTotal.Load() }

// New returns a receiver producing to topic with cl, a client built with
// ProducerOptions. It reads the token file when one is configured.
func New(cfg Config, topic string, cl *kgo.Client, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, topic: topic, cl: cl, logger: deps.Logger, m: newMetrics(deps.Registerer), now: deps.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Auth.Token != "":
		s.token = []byte(cfg.Auth.Token)
	case cfg.Auth.TokenFile != "":
		b, err := os.ReadFile(cfg.Auth.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading ingest.auth.token_file: %w", err)
		}
		s.token = []byte(strings.TrimSpace(string(b)))
		if len(s.token) == 0 {
			return nil, errors.New("ingest.auth.token_file: file is empty")
		}
	}
	return s, nil
}

// ProducerOptions are the producer settings ingest needs on top of the
// shared Kafka options.
func ProducerOptions(cfg Config) []kgo.Opt {
	opts := []kgo.Opt{
		// acks=all and idempotence are franz-go's defaults; spelled out
		// because losing an acknowledged record is the one thing ingest
		// must never do.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// murmur2 of the key, as the Java client: a submission's records
		// share a partition whoever produced them (DESIGN.md decision 2).
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(cfg.Linger),
		// Bounds memory; past it requests get 429 instead of queueing.
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		// A record not acknowledged in time fails, and its request gets
		// 503, rather than waiting forever on a dead broker.
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProducerBatchMaxBytes(int32(max(cfg.MaxRecordBytes+1024, 1<<20))),
	}
	// none is the fallback for brokers that refuse the codec (zstd needs
	// Kafka 2.1).
	opts = append(opts, kgo.ProducerBatchCompression(producerCodec(cfg.Compression), kgo.NoCompression()))
	return opts
}

// producerCodec is franz-go's codec for the compression setting.
func producerCodec(name string) kgo.CompressionCodec {
	switch name {
	case "zstd":
		// zstd's fastest level: the default level (3) cost ingest 17% of
		// its CPU in compression (docs/BENCHMARKS.md, logweave bench); the
		// fastest still compresses these records several times over.
		return kgo.ZstdCompression().WithLevel(1)
	case "lz4":
		return kgo.Lz4Compression()
	case "snappy":
		return kgo.SnappyCompression()
	case "gzip":
		return kgo.GzipCompression()
	default:
		return kgo.NoCompression()
	}
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/logs", s.wrap(endpointLogs, s.handleLogs))
	mux.Handle("/v1/traces", s.wrap(endpointTraces, s.handleTraces))
	mux.Handle("/v1/ndjson", s.wrap(endpointNDJSON, s.handleNDJSON))
	mux.HandleFunc("/v1/metrics", s.handleMetrics)
	return mux
}

// Serve serves on ln until ctx is done, then stops accepting, lets
// in-flight requests finish (they wait for Kafka) for up to grace, and
// returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS.CertFile != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serving ingest: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down ingest: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving ingest: %w", err)
	}
	return nil
}

// httpError is a whole-request failure.
type httpError struct {
	status     int
	msg        string
	retryAfter bool
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// request is what the generic part of a handler hands to an endpoint.
type request struct {
	body    []byte
	json    bool // OTLP: the body is OTLP/JSON
	started time.Time
}

type endpointFunc func(w http.ResponseWriter, r *request) (code int)

// wrap does what every endpoint needs: method, auth, content type, body
// limits and decompression, metrics.
func (s *Server) wrap(endpoint string, fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.serve(endpoint, w, r, fn)
		s.m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
		s.m.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serve(endpoint string, w http.ResponseWriter, r *http.Request, fn endpointFunc) int {
	isJSON, herr := s.checkRequest(endpoint, r)
	if herr == nil {
		// OTLP bodies are read into pooled buffers, taken back once the
		// request is answered: what is kept past the answer (Kafka's
		// records, also those still in flight after a produce_timeout) is
		// copied out of the body (TestIngest_NothingKeptPointsIntoTheBody).
		// NDJSON bodies are not pooled.
		var buf *[]byte
		if endpoint != endpointNDJSON {
			buf = s.bodies.get()
			defer s.bodies.put(buf)
		}
		var body []byte
		body, herr = s.readBody(r, buf)
		if herr == nil {
			return fn(w, &request{body: body, json: isJSON, started: time.Now()})
		}
	}
	s.writeError(w, endpoint, isJSON, herr)
	return herr.status
}

func (s *Server) checkRequest(endpoint string, r *http.Request) (isJSON bool, herr *httpError) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	// Only a protobuf request gets a protobuf answer (OTLP/HTTP: the
	// response uses the request's content type). Anything else, a curl
	// that sent no or the wrong content type included, gets JSON a person
	// can read.
	isJSON = ct != "application/x-protobuf"
	if r.Method != http.MethodPost {
		return isJSON, errorf(http.StatusMethodNotAllowed, "method %s not allowed: use POST", r.Method)
	}
	if s.token != nil && !s.tokenOK(r.Header.Get("Authorization")) {
		return isJSON, errorf(http.StatusUnauthorized, "missing or wrong bearer token")
	}
	switch endpoint {
	case endpointNDJSON:
		switch ct {
		case "application/x-ndjson", "application/jsonl", "application/json", "text/plain", "":
		default:
			return isJSON, errorf(http.StatusUnsupportedMediaType, "content type %q not supported: use application/x-ndjson", ct)
		}
	default:
		if ct != "application/x-protobuf" && ct != "application/json" {
			return isJSON, errorf(http.StatusUnsupportedMediaType, "content type %q not supported: use application/x-protobuf or application/json", ct)
		}
	}
	return isJSON, nil
}

// tokenOK reports whether an Authorization value carries the configured
// bearer token.
func (s *Server) tokenOK(authorization string) bool {
	got, ok := strings.CutPrefix(authorization, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), s.token) == 1
}

// readBody reads the body, decompressing gzip, within MaxBodyBytes on both
// sides of the decompression.
//
// buf, when not nil, is a buffer to read into; it is left holding the
// buffer read into (grown or replaced when too small).
func (s *Server) readBody(r *http.Request, buf *[]byte) ([]byte, *httpError) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body of %d bytes exceeds max_body_bytes %d", r.ContentLength, limit)
	}
	var src io.Reader = http.MaxBytesReader(nil, r.Body, limit)
	// The body is read into one buffer sized from Content-Length (plus
	// one byte, so that reading the end needs no growth); a guess of
	// four times that for gzip. io.ReadAll grew it from 512 bytes by
	// doubling, a tenth of ingest's allocated bytes.
	size := r.ContentLength + 1
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, s.bodyError(err, "reading gzip body")
		}
		defer zr.Close()
		src = zr
		size = 4 * r.ContentLength
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, "content encoding %q not supported: use gzip or none", enc)
	}
	// The guess is capped at maxBodyGuess: Content-Length is the client's
	// word, and a buffer of it allocated before any byte arrived would let
	// a request that declares max_body_bytes and sends nothing hold that
	// much heap (or, with a max_body_bytes above the machine's memory, end
	// the process). Larger bodies grow from there as bytes arrive.
	size = min(max(size, 512), limit+1, maxBodyGuess)
	var into []byte
	if buf != nil && int64(cap(*buf)) >= size {
		into = (*buf)[:0]
	} else {
		into = make([]byte, 0, size)
	}
	body, err := readAll(io.LimitReader(src, limit+1), into)
	if buf != nil {
		*buf = body
	}
	if err != nil {
		return nil, s.bodyError(err, "reading body")
	}
	if int64(len(body)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "decompressed body exceeds max_body_bytes %d", limit)
	}
	return body, nil
}

// maxBodyGuess caps the buffer readBody allocates from Content-Length
// before the body arrives.
const maxBodyGuess = 1 << 20

// readAll is io.ReadAll into b.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

func (s *Server) bodyError(err error, what string) *httpError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "body exceeds max_body_bytes %d", s.cfg.MaxBodyBytes)
	}
	return errorf(http.StatusBadRequest, "%s: %v", what, err)
}

// outRecord is one record ready to produce.
type outRecord struct {
	env   *v1.Envelope
	value []byte
	key   string
	// buf holds value (and will hold the Kafka record); the same for
	// every record of a request.
	buf *produceBuf
}

// prepare checks per-record limits, assigns record ids and keys, and
// encodes. Records over a limit are rejected alone; pos[i] is envs[i]'s
// index (or line) in the request, for messages.
func (s *Server) prepare(envs []*v1.Envelope, pos []int, rejs []rejection) ([]outRecord, []rejection) {
	now := s.now()
	ingested := uint64(now.UnixNano())
	maxTime := uint64(now.Add(s.cfg.MaxFutureSkew).UnixNano())
	ids := newIDHasher(len(envs))
	out := make([]outRecord, 0, len(envs))
	// The records' keys and values are copied into the request's
	// produceBuf, which produce hands back for reuse.
	buf := s.produceBufs.get()
	var scratch []byte
	for i, env := range envs {
		idx := pos[i]
		if reason, msg := s.checkLimits(env, maxTime); reason != "" {
			rejs = append(rejs, rejection{index: idx, reason: reason, err: msg})
			continue
		}
		env.SchemaVersion = v1.SchemaVersion
		env.IngestedAtUnixNano = ingested
		var err error
		if scratch, err = ids.encode(env, scratch[:0]); err != nil {
			rejs = append(rejs, rejection{index: idx, reason: reasonMalformed, err: fmt.Sprintf("encoding record: %v", err)})
			continue
		}
		if len(scratch) > s.cfg.MaxRecordBytes {
			rejs = append(rejs, rejection{index: idx, reason: reasonTooLarge,
				err: fmt.Sprintf("record is %d bytes encoded, more than max_record_bytes %d", len(scratch), s.cfg.MaxRecordBytes)})
			continue
		}
		out = append(out, outRecord{env: env, value: buf.copyBytes(scratch), key: recordKey(env), buf: buf})
	}
	if len(out) == 0 {
		s.produceBufs.put(buf)
	}
	return out, rejs
}

func (s *Server) checkLimits(env *v1.Envelope, maxTime uint64) (reason, msg string) {
	var (
		attrs int
		ts    uint64
	)
	switch r := env.GetRecord().(type) {
	case *v1.Envelope_Log:
		attrs, ts = len(r.Log.GetAttributes()), r.Log.GetTimeUnixNano()
	case *v1.Envelope_Span:
		attrs, ts = len(r.Span.GetAttributes()), max(r.Span.GetStartTimeUnixNano(), r.Span.GetEndTimeUnixNano())
	}
	if s.cfg.MaxAttributes > 0 && attrs > s.cfg.MaxAttributes {
		return reasonTooManyAttrs, fmt.Sprintf("%d attributes, more than max_attributes %d", attrs, s.cfg.MaxAttributes)
	}
	if ts > maxTime {
		return reasonFuture, fmt.Sprintf("timestamp %s is more than max_future_skew %s ahead of the receiver's clock",
			time.Unix(0, int64(ts)).UTC().Format(time.RFC3339Nano), s.cfg.MaxFutureSkew)
	}
	return "", ""
}

// produce writes every record and waits until Kafka acknowledged all of
// them. It returns nil only when every record is durably in the topic.
//
// It waits at most ProduceTimeout. franz-go's idempotent producer never
// fails a record that was sent and not answered (that could reorder or
// duplicate sequence numbers), so when the broker dies mid-request the
// records stay in flight until it is back; the client gets 503 now and its
// retry carries the same record ids, which every sink deduplicates.
func (s *Server) produce(recs []outRecord) *httpError {
	if len(recs) == 0 {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ProduceTimeout)
	defer cancel()
	// Buffered for every callback, so late callbacks never block.
	errs := make(chan error, len(recs))
	buf := recs[0].buf
	if buf == nil {
		buf = &produceBuf{}
	}
	// One promise for every record of the request (a closure per record
	// was a third of ingest's allocations): the record it is called with
	// is the request's own, its value unchanged, so its size is what was
	// added for it.
	promise := func(r *kgo.Record, err error) {
		s.m.bytesInFlight.Sub(float64(len(r.Value)))
		errs <- err
	}
	var size int
	for _, r := range recs {
		size += len(r.value)
	}
	s.m.bytesInFlight.Add(float64(size))
	for _, r := range recs {
		rec := buf.recs.next()
		rec.Topic, rec.Key, rec.Value = s.topic, buf.copyString(r.key), r.value
		// The hand-off time, read once per request: franz-go reads the
		// clock for every record without a timestamp (1.5% of ingest's
		// CPU); the record timeout counts from it as before.
		rec.Timestamp = start
		s.cl.TryProduce(ctx, rec, promise)
	}
	var (
		first    error
		full     bool
		promised int // promises that ran
	)
	defer func() {
		// Every promise ran: franz-go is done with the records, their
		// bytes can serve a later request.
		if promised == len(recs) {
			s.produceBufs.put(buf)
		}
	}()
	for range recs {
		var err error
		select {
		case err = <-errs:
			promised++
		case <-ctx.Done():
			err = fmt.Errorf("no acknowledgement within produce_timeout %s", s.cfg.ProduceTimeout)
		}
		if err != nil {
			if errors.Is(err, kgo.ErrMaxBuffered) {
				full = true
			}
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	s.m.produce.Observe(time.Since(start).Seconds())
	switch {
	case full:
		return &httpError{status: http.StatusTooManyRequests, retryAfter: true,
			msg: "producer buffer is full (max_buffered_records): retry later"}
	case first != nil:
		s.logger.Warn("producing to kafka failed; answering 503", "topic", s.topic, "records", len(recs), "err", first)
		return &httpError{status: http.StatusServiceUnavailable, retryAfter: true,
			msg: fmt.Sprintf("kafka did not acknowledge the records: %v; retry later", first)}
	}
	return nil
}

func (s *Server) countRejections(endpoint string, rejs []rejection) {
	for _, r := range rejs {
		s.m.rejected.WithLabelValues(endpoint, r.reason).Inc()
	}
}

// rejectionSummary joins up to five rejection messages, in request order:
// "2 log records rejected; log record 0: ...; log record 3: ...".
func rejectionSummary(rejs []rejection, singular, plural string) string {
	sort.SliceStable(rejs, func(i, j int) bool { return rejs[i].index < rejs[j].index })
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s rejected", len(rejs), plural)
	for i, r := range rejs {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(rejs)-5)
			break
		}
		fmt.Fprintf(&b, "; %s %d: %s", singular, r.index, r.err)
	}
	return b.String()
}
