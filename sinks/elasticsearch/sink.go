// Package elasticsearch is the Elasticsearch sink: bulk create operations
// with _id = record_id, so a replayed or redelivered record is a 409 on its
// own id (counted as delivered), never a second document.
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/internal/tlsca"
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/document"
)

// ErrAuth is returned (fatally) when Elasticsearch refuses our
// credentials: retrying would only hammer it.
var ErrAuth = errors.New("elasticsearch refused the credentials")

// ErrNotFound is returned (fatally) when every bulk request has been
// answered 404 for Config.NotFoundTimeout: the URL is wrong.
var ErrNotFound = errors.New("elasticsearch bulk endpoint not found")

// Sink writes to Elasticsearch.
type Sink struct {
	cfg      Config
	cl       *es.Client
	m        *metrics
	notFound sinks.NotFoundClock
	// gz gzips bulk bodies when Compress is on; nil otherwise.
	gz *compressor
	// bodies are bulk body buffers reused across batches when gz is on.
	bodies sync.Pool // *[]byte
}

// Option adjusts New.
type Option func(*options)

type options struct{ logger *slog.Logger }

// WithLogger logs New's retries (installing the template while
// Elasticsearch is not reachable yet). Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New connects, and installs the index template when configured. Elasticsearch
// may start after the sink (a fleet starts in any order): transient failures
// of the install (network errors, 408, 429, 5xx, a proxy's 404) are retried
// with backoff until ctx ends; an authentication failure or a refused
// template ends New at once.
func New(ctx context.Context, cfg Config, reg prometheus.Registerer, sinkName string, opts ...Option) (*Sink, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var gz *compressor
	if cfg.Compress {
		var err error
		if gz, err = newCompressor(cfg.CompressLevel); err != nil {
			return nil, err
		}
	}
	cl, err := newClient(cfg, func(ec *es.Config) {
		// Bulk bodies are gzipped by the sink (gz), not by the client:
		// the client's compression is off.
		// The sink runtime retries, per item; the transport must not
		// retry whole bulk requests behind its back.
		ec.DisableRetry = true
	})
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, cl: cl, m: newMetrics(reg, sinkName), gz: gz}
	if cfg.Template.Install {
		wait := 250 * time.Millisecond
		for attempt := 1; ; attempt++ {
			err := s.installTemplate(ctx)
			var transient *transientError
			if err == nil {
				break
			}
			if !errors.As(err, &transient) {
				return nil, err
			}
			o.logger.Warn("elasticsearch not ready, retrying", "step", "installing the index template", "attempt", attempt, "retry_in", wait, "err", err)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
			}
			wait = min(2*wait, 15*time.Second)
		}
	}
	return s, nil
}

// transientError is a failure of a request that trying again may fix.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func (s *Sink) installTemplate(ctx context.Context) error {
	body, err := templateBody(s.cfg.Template)
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: s.cfg.Template.Name, Body: bytes.NewReader(body)}.Do(ctx, s.cl)
	if err != nil {
		return &transientError{fmt.Errorf("installing index template %s: %w", s.cfg.Template.Name, err)}
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return fmt.Errorf("installing index template %s: %w (%s)", s.cfg.Template.Name, ErrAuth, res.Status())
	}
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		err := fmt.Errorf("installing index template %s: %s: %s", s.cfg.Template.Name, res.Status(), b)
		// Only Elasticsearch's own 400 refuses the template; anything
		// else (a gateway's 404 or 502, 408, 429, 5xx) may pass.
		if res.StatusCode == http.StatusBadRequest && res.Header.Get("X-Elastic-Product") != "" {
			return err
		}
		return &transientError{err}
	}
	return nil
}

// newClient returns a client with cfg's nodes, credentials and CA bundle;
// adjust sets the rest.
func newClient(cfg Config, adjust func(*es.Config)) (*es.Client, error) {
	ecfg := es.Config{Addresses: cfg.URLs, APIKey: cfg.APIKey, Username: cfg.Username, Password: cfg.Password}
	tr, err := tlsca.Transport("elasticsearch ca_file", cfg.CAFile)
	if err != nil {
		return nil, err
	}
	ecfg.Transport = tr
	if adjust != nil {
		adjust(&ecfg)
	}
	cl, err := es.NewClient(ecfg)
	if err != nil {
		return nil, fmt.Errorf("creating elasticsearch client: %w", err)
	}
	return cl, nil
}

// Close releases idle connections.
func (s *Sink) Close() error { return nil }

// DestinationNeeds: documents go to the routed index; labels, metadata and
// tenant are Loki's.
func (s *Sink) DestinationNeeds() router.Need { return router.NeedIndex }

// Write sends the batch as bulk create requests of at most MaxBulkBytes and
// maps every item's result.
func (s *Sink) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	results := make([]sinks.Result, len(batch))
	var (
		body  []byte
		start int
	)
	if s.gz != nil {
		// Gzipped, the body is read only by compress, within send: it
		// can serve the next batch. (Sent as it is, the transport might
		// still read it after a failed request.)
		if p, ok := s.bodies.Get().(*[]byte); ok {
			body = (*p)[:0]
		}
		defer func() {
			if cap(body) <= maxPooledBuf {
				s.bodies.Put(&body)
			}
		}()
	}
	for i, r := range batch {
		n := len(body)
		body = s.appendItem(body, r)
		if len(body) > s.cfg.MaxBulkBytes && i > start {
			// Send what came before this item, start anew with it.
			item := body[n:]
			if s.gz == nil {
				item = append([]byte(nil), item...)
			}
			if err := s.sendSplitting(ctx, body[:n], batch[start:i], results[start:i]); err != nil {
				return results, err
			}
			if s.gz != nil {
				body = append(body[:0], item...) // in place: compress is done with it
			} else {
				body = item
			}
			start = i
		}
	}
	if start < len(batch) {
		if err := s.sendSplitting(ctx, body, batch[start:], results[start:]); err != nil {
			return results, err
		}
	}
	return results, nil
}

// sendSplitting sends one bulk request. A request refused as a whole for
// its size (413) or by Elasticsearch's own request-level 400 says nothing
// about most of its documents: the records are sent again in two halves,
// down to single documents, and only a document refused on its own is
// rejected.
func (s *Sink) sendSplitting(ctx context.Context, body []byte, recs []*sinks.Record, results []sinks.Result) error {
	whole, err := s.send(ctx, body, recs, results)
	if err != nil || whole == nil {
		return err
	}
	if len(recs) == 1 {
		results[0] = *whole
		s.m.items.WithLabelValues(outcomeName(*whole)).Inc()
		return nil
	}
	s.m.splits.Inc()
	mid := len(recs) / 2
	for _, part := range [][2]int{{0, mid}, {mid, len(recs)}} {
		var b []byte
		for _, r := range recs[part[0]:part[1]] {
			b = s.appendItem(b, r)
		}
		if err := s.sendSplitting(ctx, b, recs[part[0]:part[1]], results[part[0]:part[1]]); err != nil {
			return err
		}
	}
	return nil
}

// appendItem appends one create action and its document.
func (s *Sink) appendItem(b []byte, r *sinks.Record) []byte {
	b = append(b, `{"create":{"_index":`...)
	b = document.AppendString(b, r.Dest.Index)
	b = append(b, `,"_id":`...)
	b = document.AppendString(b, r.Enriched.GetRecordId())
	if s.cfg.Routing {
		if id := r.Enriched.GetSubmission().GetSubmitId(); id != "" {
			b = append(b, `,"routing":`...)
			b = document.AppendString(b, id)
		}
	}
	b = append(b, "}}\n"...)
	b = document.Append(b, r.Enriched)
	return append(b, '\n')
}

// bulkResponse is the part of a bulk response the sink reads.
type bulkResponse struct {
	Errors bool       `json:"errors"`
	Items  []bulkItem `json:"items"`
}

// bulkItem is one item of a bulk response, keyed by its operation: the
// sink sends only create, the others are read in case a proxy or a
// version answers differently. Fields instead of a map per item: decoding
// the response was 12% of the sink's CPU in logweave bench.
type bulkItem struct {
	Create *bulkItemResult `json:"create"`
	Index  *bulkItemResult `json:"index"`
	Update *bulkItemResult `json:"update"`
	Delete *bulkItemResult `json:"delete"`
}

// result is the item's result, whichever operation it is keyed by.
func (b *bulkItem) result() bulkItemResult {
	for _, r := range []*bulkItemResult{b.Create, b.Index, b.Update, b.Delete} {
		if r != nil {
			return *r
		}
	}
	return bulkItemResult{}
}

type bulkItemResult struct {
	Status int `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// send performs one bulk request and fills results for its records. When
// the request is refused as a whole in a way that is a verdict only on a
// request of one document (413, Elasticsearch's own 400), it fills nothing
// and returns the result such a single document gets.
func (s *Sink) send(ctx context.Context, body []byte, recs []*sinks.Record, results []sinks.Result) (*sinks.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	s.m.bulkBytes.Observe(float64(len(body)))
	req := esapi.BulkRequest{Body: bytes.NewReader(body)}
	var zbody *bytes.Buffer
	if s.gz != nil {
		var err error
		if zbody, err = s.gz.compress(body); err != nil {
			return nil, err
		}
		req.Body = bytes.NewReader(zbody.Bytes())
		req.Header = http.Header{"Content-Encoding": []string{"gzip"}}
	}
	start := time.Now()
	res, err := req.Do(ctx, s.cl)
	// zbody is not given back to the pool: an http.RoundTripper may read
	// the request body after RoundTrip returned, even after the response
	// body was closed (a server or proxy answering 413 before reading the
	// whole body), until it closes it; esapi gives us no Close to wait for.
	s.m.bulkLatency.Observe(time.Since(start).Seconds())
	fill := func(r sinks.Result) {
		for i := range results {
			results[i] = r
		}
		s.m.items.WithLabelValues(outcomeName(r)).Add(float64(len(results)))
	}
	if err != nil {
		s.m.requests.WithLabelValues("error").Inc()
		fill(sinks.RetryLater("network", fmt.Errorf("sending bulk request: %w", err)))
		return nil, nil
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		s.notFound.Answered()
	}
	if res.IsError() {
		s.m.requests.WithLabelValues(strconv.Itoa(res.StatusCode)).Inc()
		return s.refused(res, len(body), fill)
	}
	items, err := s.readBulkResponse(res.Body)
	if err != nil {
		s.m.requests.WithLabelValues("bad_response").Inc()
		fill(sinks.RetryLater("bad_response", fmt.Errorf("decoding bulk response: %w", err)))
		return nil, nil
	}
	s.m.requests.WithLabelValues("ok").Inc()
	if len(items) != len(recs) {
		fill(sinks.RetryLater("bad_response", fmt.Errorf("bulk response has %d items for %d operations", len(items), len(recs))))
		return nil, nil
	}
	for i, it := range items {
		results[i] = classify(it)
		s.m.items.WithLabelValues(itemOutcome(it)).Inc()
	}
	return nil, nil
}

// readBulkResponse reads a bulk response's item results: by
// scanBulkStatuses when every item is a plain success or failure without
// an error object, else by encoding/json.
func (s *Sink) readBulkResponse(body io.Reader) ([]bulkItemResult, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return decodeBulkResponse(b)
}

func decodeBulkResponse(b []byte) ([]bulkItemResult, error) {
	if statuses, ok := scanBulkStatuses(b, nil); ok {
		items := make([]bulkItemResult, len(statuses))
		for i, st := range statuses {
			items[i].Status = st
		}
		return items, nil
	}
	var br bulkResponse
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&br); err != nil {
		return nil, err
	}
	items := make([]bulkItemResult, len(br.Items))
	for i := range br.Items {
		items[i] = br.Items[i].result()
	}
	return items, nil
}

// refused maps a bulk request answered with an error status. Only what
// Elasticsearch refuses for a document is terminal; a proxy's or
// ingress's 404, 408, 413 for a whole request is no verdict on its
// documents:
//
//   - 401/403: fatal (credentials), no hot loop;
//   - 404: retried, unless every request has been answered 404 for
//     not_found_timeout: then fatal (a wrong URL);
//   - 413: split (a single document still refused is too_large);
//   - 400 from Elasticsearch itself (X-Elastic-Product header): split (a
//     single document still refused is bad_request);
//   - 429, 5xx, 408 and any other status: retried.
func (s *Sink) refused(res *esapi.Response, size int, fill func(sinks.Result)) (*sinks.Result, error) {
	text := func() string {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return strings.Join(strings.Fields(string(b)), " ") // a proxy's HTML on one line
	}
	fromES := res.Header.Get("X-Elastic-Product") == "Elasticsearch"
	switch code := res.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		fill(sinks.RetryLater("auth", ErrAuth))
		return nil, fmt.Errorf("bulk request: %w (%s): check api_key or username/password and the role's privileges on the indices", ErrAuth, res.Status())
	case code == http.StatusNotFound:
		fill(sinks.RetryLater("not_found", fmt.Errorf("bulk request answered %s: %s", res.Status(), text())))
		if d := s.notFound.NotFound(); d >= s.cfg.NotFoundTimeout {
			return nil, fmt.Errorf("bulk request: %w: every request answered %s for %s: check urls (and the routes of a proxy in front of Elasticsearch)",
				ErrNotFound, res.Status(), d.Round(time.Second))
		}
		return nil, nil
	case code == http.StatusRequestEntityTooLarge:
		r := sinks.Rejected("too_large", fmt.Errorf("bulk request of %d bytes refused as too large: %s: %s", size, res.Status(), text()))
		return &r, nil
	case code == http.StatusBadRequest && fromES:
		r := sinks.Rejected("bad_request", fmt.Errorf("bulk request refused: %s: %s", res.Status(), text()))
		return &r, nil
	case code == http.StatusTooManyRequests:
		fill(sinks.RetryLater("rate_limited", fmt.Errorf("bulk request rejected: %s", res.Status())))
	case code >= 500:
		fill(sinks.RetryLater("unavailable", fmt.Errorf("bulk request failed: %s", res.Status())))
	default:
		fill(sinks.RetryLater("unexpected_status", fmt.Errorf("bulk request answered %s: %s", res.Status(), text())))
	}
	return nil, nil
}

// classify maps one bulk item result: created -> delivered; 409 on our own
// id -> delivered (it is already there); 429 and 5xx -> retry; other
// errors (mapping, parsing, invalid index) -> reject with the error type.
func classify(it bulkItemResult) sinks.Result {
	switch {
	case it.Status >= 200 && it.Status < 300:
		return sinks.Ok()
	case it.Status == http.StatusConflict && it.Error != nil && it.Error.Type == "version_conflict_engine_exception":
		return sinks.Duplicate()
	}
	typ, reason := "unknown", ""
	if it.Error != nil {
		typ, reason = it.Error.Type, it.Error.Reason
	}
	err := fmt.Errorf("%s: %s", typ, reason)
	switch {
	case it.Status == http.StatusTooManyRequests:
		return sinks.RetryLater("rate_limited", err)
	case it.Status >= 500:
		return sinks.RetryLater("unavailable", err)
	}
	return sinks.Rejected(reasonClass(typ), err)
}

func reasonClass(typ string) string {
	switch {
	case strings.Contains(typ, "mapper") || strings.Contains(typ, "parsing") || strings.Contains(typ, "parse"):
		return "mapping"
	case strings.Contains(typ, "index_name"):
		return "invalid_index"
	}
	return "rejected"
}

func itemOutcome(it bulkItemResult) string {
	switch {
	case it.Status >= 200 && it.Status < 300:
		return "created"
	case it.Status == http.StatusConflict:
		return "duplicate"
	case it.Status == http.StatusTooManyRequests || it.Status >= 500:
		return "retried"
	}
	return "rejected"
}

func outcomeName(r sinks.Result) string {
	if r.Outcome == sinks.Reject {
		return "rejected"
	}
	return "retried"
}
