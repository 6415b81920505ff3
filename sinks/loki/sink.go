// Package loki is the Loki sink: protobuf push requests (the gogo types of
// github.com/grafana/loki/pkg/push, snappy block-compressed) to
// /loki/api/v1/push, with low-cardinality stream labels from the router,
// ids as structured metadata, the event time as entry timestamp, and a
// deterministic line so that Loki merges replayed entries.
package loki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/internal/tlsca"
	"github.com/logweave/logweave/sinks"
)

// ErrAuth is returned (fatally) when Loki refuses our credentials.
var ErrAuth = errors.New("loki refused the credentials")

// ErrNotFound is returned (fatally) when every push has been answered 404
// for Config.NotFoundTimeout: the URL is wrong.
var ErrNotFound = errors.New("loki push endpoint not found")

// Sink pushes to Loki.
type Sink struct {
	cfg      Config
	http     *http.Client
	m        *metrics
	notFound sinks.NotFoundClock
	unknown  unknownOutcomes
	// bufs are push encoding buffers (*pushBuffers) reused across pushes.
	bufs sync.Pool
	// preps are rendered batches (*prepared) reused across batches.
	preps sync.Pool
}

// New returns a Loki sink.
func New(cfg Config, reg prometheus.Registerer, sinkName string) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr, err := tlsca.Transport("loki ca_file", cfg.CAFile)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, http: &http.Client{Transport: tr}, m: newMetrics(reg, sinkName)}, nil
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.http.CloseIdleConnections()
	return nil
}

// entry is one record prepared for a push.
type entry struct {
	i      int    // index in the batch
	id     string // record_id
	tenant string
	labels string
	e      push.Entry
	size   int
}

// Write pushes the batch: one stream per push, in pushes of at most
// MaxPushBytes.
//
// One stream per push because Loki's ingester (v3.7) answers a push with
// the error of its last stream only: entries it refuses in an earlier
// stream (too far behind, out of order, over the per-stream rate limit)
// would be answered 204 and lost without a trace
// (TestRealLoki_Refusals pushes a refused entry with another stream).
func (s *Sink) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	results := make([]sinks.Result, len(batch))
	p := s.prepare(batch)
	defer s.release(p)
	entries := p.entries
	sort.SliceStable(entries, func(a, b int) bool {
		if entries[a].tenant != entries[b].tenant {
			return entries[a].tenant < entries[b].tenant
		}
		if entries[a].labels != entries[b].labels {
			return entries[a].labels < entries[b].labels
		}
		return entries[a].i < entries[b].i
	})
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && sameStream(entries[end], entries[start]) && (end == start || size+entries[end].size <= s.cfg.MaxPushBytes) {
			size += entries[end].size
			end++
		}
		if err := s.pushIsolating(ctx, entries[start:end], results); err != nil {
			return results, err
		}
		start = end
	}
	return results, nil
}

// prepared is a batch's rendered entries and the buffers behind them,
// reused by later batches (Sink.preps) once Write is done with them.
type prepared struct {
	entries []entry
	ends    []int
	lines   []byte // every line of the batch, back to back
	line    []byte
	scratch []byte
	meta    []push.LabelAdapter
	streams map[string]string
}

// prepare renders the batch's entries. The lines are rendered into one
// buffer that every line is a piece of (a string over it, valid until
// release), and a stream's label string is made once per batch; the
// buffers are reused from batch to batch, so a batch allocates only its
// streams' label strings.
func (s *Sink) prepare(batch []*sinks.Record) *prepared {
	p, _ := s.preps.Get().(*prepared)
	if p == nil {
		p = &prepared{streams: map[string]string{}}
	}
	p.entries = slices.Grow(p.entries[:0], len(batch))[:len(batch)]
	p.ends = slices.Grow(p.ends[:0], len(batch))[:len(batch)]
	entries, ends := p.entries, p.ends
	lines, line, scratch := p.lines[:0], p.line, p.scratch
	nmeta := 0
	for _, r := range batch {
		nmeta += len(r.Dest.Metadata)
	}
	// Structured metadata of an entry is a piece of meta: it must not
	// move while the batch is rendered.
	meta := slices.Grow(p.meta[:0], nmeta)
	for i, r := range batch {
		tenant := r.Dest.Tenant
		if tenant == "" {
			tenant = s.cfg.Tenant
		}
		scratch = appendLabels(scratch[:0], r)
		labels, ok := p.streams[string(scratch)]
		if !ok {
			labels = string(scratch)
			p.streams[labels] = labels
		}
		e := &entries[i]
		*e = entry{i: i, id: r.Enriched.GetRecordId(), tenant: tenant, labels: labels}
		e.e.Timestamp = time.Unix(0, int64(r.Enriched.GetRecord().EventTimeUnixNano())).UTC()
		// appendLine separates fields by what precedes them in its
		// buffer: each line is rendered on its own, then copied.
		line = appendLine(line[:0], r.Enriched)
		lines = append(lines, line...)
		ends[i] = len(lines)
		start := len(meta)
		for _, md := range r.Dest.Metadata {
			meta = append(meta, push.LabelAdapter{Name: md.Name, Value: md.Value})
		}
		if len(meta) > start {
			e.e.StructuredMetadata = meta[start:len(meta):len(meta)]
		}
	}
	p.lines, p.line, p.scratch, p.meta = lines, line, scratch, meta
	var all string
	if len(lines) > 0 {
		all = unsafe.String(&lines[0], len(lines))
	}
	for i := range entries {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		entries[i].e.Line = all[start:ends[i]]
		entries[i].size = len(entries[i].e.Line) + len(entries[i].labels)
	}
	return p
}

// maxPooledLines bounds the line buffer kept for the next batch.
const maxPooledLines = 8 << 20

// maxPooledStreams bounds the label strings kept for later batches.
const maxPooledStreams = 4096

// release returns p's buffers for a later batch: its entries' lines point
// into them, so nothing of p may be used after. The streams' label
// strings (copies, pointing into no record) stay for the next batches
// with the same label sets, up to maxPooledStreams.
func (s *Sink) release(p *prepared) {
	clear(p.entries) // the records' strings: no batch kept alive by the pool
	clear(p.meta)
	if len(p.streams) > maxPooledStreams {
		clear(p.streams)
	}
	if cap(p.lines) > maxPooledLines {
		return
	}
	s.preps.Put(p)
}

func sameStream(a, b entry) bool { return a.tenant == b.tenant && a.labels == b.labels }

// pushIsolating pushes entries. A push of several entries refused as a
// whole (400: Loki stored the entries it did not refuse; 413: too large)
// is pushed again in halves, down to single entries, and only an entry
// refused on its own is rejected.
func (s *Sink) pushIsolating(ctx context.Context, es []entry, results []sinks.Result) error {
	v, err := s.push(ctx, es)
	if err != nil {
		return err
	}
	if len(es) > 1 && v.split {
		mid := len(es) / 2
		if err := s.pushIsolating(ctx, es[:mid], results); err != nil {
			return err
		}
		return s.pushIsolating(ctx, es[mid:], results)
	}
	for _, e := range es {
		results[e.i] = v.res
	}
	s.m.entries.WithLabelValues(outcomeLabel(v.res)).Add(float64(len(es)))
	return nil
}

// buildRequest groups entries into streams, sorted by timestamp within each
// stream, and returns the snappy-compressed protobuf body.
func buildRequest(es []entry) ([]byte, error) {
	var b pushBuffers
	return b.encode(es)
}

// pushBuffers are the encoding buffers of one push, reused across pushes
// (Sink.bufs): the protobuf request and its snappy body.
type pushBuffers struct {
	raw, body []byte
}

// encode builds the push request of es into b and returns its body, valid
// until b is used again.
func (b *pushBuffers) encode(es []entry) ([]byte, error) {
	req := push.PushRequest{Streams: streamsOf(es)}
	size := req.Size()
	b.raw = slices.Grow(b.raw[:0], size)[:size]
	n, err := req.MarshalToSizedBuffer(b.raw)
	if err != nil {
		return nil, fmt.Errorf("encoding push request: %w", err)
	}
	raw := b.raw[size-n:]
	max := s2.MaxEncodedLen(len(raw))
	if max < 0 {
		return nil, fmt.Errorf("encoding push request: %d bytes are too large for snappy", len(raw))
	}
	b.body = slices.Grow(b.body[:0], max)[:max]
	return s2.EncodeSnappy(b.body, raw), nil
}

// streamsOf groups entries into streams sorted by labels, each sorted by
// timestamp (stable). Write pushes one stream at a time, which takes no
// map.
func streamsOf(es []entry) []push.Stream {
	single := true
	for _, e := range es {
		if e.labels != es[0].labels {
			single = false
			break
		}
	}
	if single {
		entries := make([]push.Entry, len(es))
		for i := range es {
			entries[i] = es[i].e
		}
		sortByTime(entries)
		return []push.Stream{{Labels: es[0].labels, Entries: entries}}
	}
	streams := map[string]*push.Stream{}
	var order []string
	for _, e := range es {
		st := streams[e.labels]
		if st == nil {
			st = &push.Stream{Labels: e.labels}
			streams[e.labels] = st
			order = append(order, e.labels)
		}
		st.Entries = append(st.Entries, e.e)
	}
	sort.Strings(order)
	out := make([]push.Stream, 0, len(order))
	for _, l := range order {
		st := streams[l]
		sortByTime(st.Entries)
		out = append(out, *st)
	}
	return out
}

// sortByTime sorts entries by timestamp, keeping the order of equal ones;
// entries usually come in order, which is checked first.
func sortByTime(entries []push.Entry) {
	byTime := func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) }
	if !slices.IsSortedFunc(entries, byTime) {
		slices.SortStableFunc(entries, byTime)
	}
}

// verdict is the outcome of one push for all its entries. split says
// that the push was refused as a whole: a push of several entries is
// pushed again in halves, and res holds for a push of one.
type verdict struct {
	res   sinks.Result
	split bool
}

// push sends one request. A non-nil error is fatal (credentials, a 404
// that lasts).
//
// Which responses are terminal follows one rule: only what Loki refuses
// for an entry is; a proxy's or ingress's 404, 408 or 413 for a whole push
// is no verdict on its entries.
//
//   - 2xx: delivered;
//   - 400: Loki stored what it did not refuse; for one entry, a message
//     classify400 recognises rejects it, any other 400 is retried;
//   - 413: for one entry, rejected as too_large;
//   - 401/403: fatal;
//   - 404: retried, fatal once every push was answered 404 for
//     not_found_timeout (a wrong URL);
//   - 429, 5xx, 408, network errors and any other status: retried.
func (s *Sink) push(ctx context.Context, es []entry) (verdict, error) {
	bufs, _ := s.bufs.Get().(*pushBuffers)
	if bufs == nil {
		bufs = new(pushBuffers)
	}
	body, err := bufs.encode(es)
	if err != nil {
		s.bufs.Put(bufs)
		return verdict{res: sinks.Rejected("encoding", err)}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	// The buffers go back to the pool once the transport has closed the
	// body and every copy of it it asked for (a redirect, a retry on a
	// reused connection), and this push is done: an http.RoundTripper may
	// read and close a request body after RoundTrip returned, even after
	// the response body was closed (a server answering before reading the
	// whole body, as a 413 does).
	owner := &pooledBody{refs: 1, put: func() { s.bufs.Put(bufs) }}
	defer owner.release()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+"/loki/api/v1/push", owner.reader(body))
	if err != nil {
		return verdict{}, fmt.Errorf("creating push request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return owner.reader(body), nil }
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "logweave")
	if es[0].tenant != "" {
		req.Header.Set("X-Scope-OrgID", es[0].tenant)
	}
	switch {
	case s.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+s.cfg.BearerToken)
	case s.cfg.Username != "":
		req.SetBasicAuth(s.cfg.Username, s.cfg.Password)
	}
	s.unknown.pushing(es, s.m.repushed)
	s.m.pushBytes.Observe(float64(len(body)))
	start := time.Now()
	resp, err := s.http.Do(req)
	s.m.pushLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.pushes.WithLabelValues("error").Inc()
		if !notSent(err) {
			s.unknown.add(es)
		}
		return verdict{res: sinks.RetryLater("network", fmt.Errorf("pushing to loki: %w", err))}, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	s.m.pushes.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	text := strings.TrimSpace(string(msg))
	code := resp.StatusCode
	if code != http.StatusNotFound {
		s.notFound.Answered()
	}
	switch {
	case code/100 == 2:
		return verdict{res: sinks.Ok()}, nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return verdict{res: sinks.RetryLater("auth", ErrAuth)}, fmt.Errorf("push: %w (%s): check username/password or bearer_token and the tenant", ErrAuth, resp.Status)
	case code == http.StatusNotFound:
		v := verdict{res: sinks.RetryLater("not_found", fmt.Errorf("loki: %s: %s", resp.Status, oneLine(text)))}
		if d := s.notFound.NotFound(); d >= s.cfg.NotFoundTimeout {
			return v, fmt.Errorf("push: %w: every push answered %s for %s: check url (pushes go to url + /loki/api/v1/push)", ErrNotFound, resp.Status, d.Round(time.Second))
		}
		return v, nil
	case code == http.StatusRequestEntityTooLarge:
		return verdict{res: sinks.Rejected("too_large", fmt.Errorf("loki: %s: %s", resp.Status, oneLine(text))), split: true}, nil
	case code == http.StatusBadRequest:
		if len(es) > 1 {
			// Loki stored the entries it did not refuse: pushing them
			// again to find the refused ones is a re-push.
			s.unknown.add(es)
			return verdict{split: true}, nil
		}
		if reason := classify400(text); reason != "" {
			return verdict{res: sinks.Rejected(reason, fmt.Errorf("loki: %s", text))}, nil
		}
		s.unknown.add(es)
		return verdict{res: sinks.RetryLater("unexpected_status", fmt.Errorf("loki: %s (not a refusal logweave recognises; retried): %s", resp.Status, oneLine(text)))}, nil
	case code == http.StatusTooManyRequests:
		// A per-stream limit refuses some entries of a push and
		// stores the others.
		s.unknown.add(es)
		return verdict{res: sinks.RetryLater("rate_limited", fmt.Errorf("loki: %s: %s", resp.Status, text))}, nil
	case code >= 500:
		s.unknown.add(es)
		return verdict{res: sinks.RetryLater("unavailable", fmt.Errorf("loki: %s: %s", resp.Status, oneLine(text)))}, nil
	}
	// 408 and the rest: a proxy's answer; Loki may have stored the push.
	s.unknown.add(es)
	return verdict{res: sinks.RetryLater("unexpected_status", fmt.Errorf("loki: %s: %s", resp.Status, oneLine(text)))}, nil
}

// pooledBody counts the holders of a push's pooled buffers: the push
// itself and each request body made over them; the last release puts
// them back.
type pooledBody struct {
	mu   sync.Mutex
	refs int
	put  func()
}

func (p *pooledBody) release() {
	p.mu.Lock()
	p.refs--
	last := p.refs == 0
	p.mu.Unlock()
	if last {
		p.put()
	}
}

// reader is a request body over b that releases its hold when closed.
func (p *pooledBody) reader(b []byte) io.ReadCloser {
	p.mu.Lock()
	p.refs++
	p.mu.Unlock()
	return &bodyReader{Reader: bytes.NewReader(b), owner: p}
}

type bodyReader struct {
	*bytes.Reader
	owner *pooledBody
	once  sync.Once
}

func (r *bodyReader) Close() error {
	r.once.Do(r.owner.release)
	return nil
}

// notSent tells a request that certainly never reached the server (the
// connection could not be made) from one whose outcome is unknown.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// oneLine puts a response body (a proxy's HTML page) on one line for logs
// and DLQ headers.
func oneLine(s string) string {
	if len(s) > 512 {
		s = s[:512]
	}
	return strings.Join(strings.Fields(s), " ")
}

// refusals are Loki's messages for an entry it refuses, as Loki v3.7
// writes them (pkg/validation/validate.go, pkg/chunkenc/interface.go,
// pkg/loghttp/push/push.go and the ingester's errorForFailedEntries): a
// message that starts with prefix and contains every part names reason.
// Matching the fixed text around the stream selector (which holds label
// values) keeps a label value from being read as a reason.
var refusals = []struct {
	prefix string
	parts  []string
	reason string
}{
	{"entry for stream '", []string{"' has timestamp too old: ", ", oldest acceptable timestamp is: "}, "too_old"},
	{"entry for stream '", []string{"' has timestamp too new: "}, "too_new"},
	{"entry with timestamp ", []string{" ignored, reason: 'entry too far behind, entry timestamp is: "}, "too_far_behind"},
	{"entry with timestamp ", []string{" ignored, reason: 'entry out of order'"}, "out_of_order"},
	{"max entry size '", []string{"' bytes exceeded for stream '", "' while adding an entry with length '"}, "line_too_long"},
	{"couldn't parse labels: ", nil, "invalid_labels"},
	{"error parsing labels '", []string{"' with error: "}, "invalid_labels"},
	{"error at least one label pair is required per stream", nil, "invalid_labels"},
	{"entry for stream '", []string{"' has ", " label names; limit "}, "invalid_labels"},
	{"stream '", []string{"' has label name too long: '"}, "invalid_labels"},
	{"stream '", []string{"' has label value too long: '"}, "invalid_labels"},
	{"stream '", []string{"' has duplicate label name: '"}, "invalid_labels"},
	{"missing required labels '", []string{"' for stream '"}, "invalid_labels"},
	{"stream '", []string{"' includes structured metadata, but this feature is disallowed"}, "structured_metadata"},
	{"stream '", []string{"' has structured metadata too large: '"}, "structured_metadata"},
	{"stream '", []string{"' has too many structured metadata labels: '"}, "structured_metadata"},
}

// classify400 names why Loki refused a single entry from its 400 message,
// or returns "" when the message is not one of Loki's refusals.
func classify400(msg string) string {
	msg = strings.TrimSpace(msg)
	// Loki groups identical validation errors: "2 errors like: ...".
	if i := strings.Index(msg, " errors like: "); i > 0 && strings.Trim(msg[:i], "0123456789") == "" {
		msg = msg[i+len(" errors like: "):]
	}
next:
	for _, r := range refusals {
		if !strings.HasPrefix(msg, r.prefix) {
			continue
		}
		for _, p := range r.parts {
			if !strings.Contains(msg, p) {
				continue next
			}
		}
		return r.reason
	}
	return ""
}

// labelString renders the stream selector of a record: its route's labels
// (sorted by name), or {service="unknown_service"} when it has none,
// since Loki refuses a stream without labels.
func labelString(r *sinks.Record) string { return string(appendLabels(nil, r)) }

// appendLabels appends labelString(r).
func appendLabels(b []byte, r *sinks.Record) []byte {
	if len(r.Dest.Labels) == 0 {
		return append(b, `{service="unknown_service"}`...)
	}
	b = append(b, '{')
	for i, l := range r.Dest.Labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	return append(b, '}')
}

func outcomeLabel(r sinks.Result) string {
	switch r.Outcome {
	case sinks.Delivered:
		return "delivered"
	case sinks.Retry:
		return "retried"
	}
	return "rejected_" + r.Reason
}
