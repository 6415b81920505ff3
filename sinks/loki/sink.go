// Package loki is the Loki sink: protobuf push requests (the gogo types of
// github.com/grafana/loki/pkg/push, snappy block-compressed) to
// /loki/api/v1/push, with low-cardinality stream labels from the router,
// ids as structured metadata, the event time as entry timestamp, and a
// deterministic line so that Loki merges replayed entries.
package loki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/sinks"
)

// ErrAuth is returned (fatally) when Loki refuses our credentials.
var ErrAuth = errors.New("loki refused the credentials")

// Sink pushes to Loki.
type Sink struct {
	cfg  Config
	http *http.Client
	m    *metrics
}

// New returns a Loki sink.
func New(cfg Config, reg prometheus.Registerer, sinkName string) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading loki ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading loki ca_file: no PEM certificate in %s", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
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
	i      int // index in the batch
	tenant string
	labels string
	e      push.Entry
	size   int
}

// Write pushes the batch, per tenant, in pushes of at most MaxPushBytes.
func (s *Sink) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	results := make([]sinks.Result, len(batch))
	entries := make([]entry, 0, len(batch))
	for i, r := range batch {
		tenant := r.Dest.Tenant
		if tenant == "" {
			tenant = s.cfg.Tenant
		}
		e := entry{i: i, tenant: tenant, labels: labelString(r)}
		e.e.Timestamp = time.Unix(0, int64(r.Enriched.GetRecord().EventTimeUnixNano())).UTC()
		e.e.Line = string(appendLine(nil, r.Enriched))
		for _, md := range r.Dest.Metadata {
			e.e.StructuredMetadata = append(e.e.StructuredMetadata, push.LabelAdapter{Name: md.Name, Value: md.Value})
		}
		e.size = len(e.e.Line) + len(e.labels)
		entries = append(entries, e)
	}
	sort.SliceStable(entries, func(a, b int) bool {
		if entries[a].tenant != entries[b].tenant {
			return entries[a].tenant < entries[b].tenant
		}
		return entries[a].i < entries[b].i
	})
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && entries[end].tenant == entries[start].tenant && (end == start || size+entries[end].size <= s.cfg.MaxPushBytes) {
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

// pushIsolating pushes entries; when Loki answers 400 for a push of several
// entries, it pushes them one by one to find which are refused (entries
// Loki already took are merged as identical).
func (s *Sink) pushIsolating(ctx context.Context, es []entry, results []sinks.Result) error {
	res, msg, err := s.push(ctx, es)
	if err != nil {
		return err
	}
	if res.Outcome == sinks.Reject && len(es) > 1 {
		for i := range es {
			if err := s.pushIsolating(ctx, es[i:i+1], results); err != nil {
				return err
			}
		}
		return nil
	}
	if res.Outcome == sinks.Reject {
		res = sinks.Rejected(classify400(msg), fmt.Errorf("loki: %s", msg))
	}
	for _, e := range es {
		results[e.i] = res
	}
	s.m.entries.WithLabelValues(outcomeLabel(res)).Add(float64(len(es)))
	return nil
}

// buildRequest groups entries into streams, sorted by timestamp within each
// stream, and returns the snappy-compressed protobuf body.
func buildRequest(es []entry) ([]byte, error) {
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
	req := push.PushRequest{Streams: make([]push.Stream, 0, len(order))}
	for _, l := range order {
		st := streams[l]
		sort.SliceStable(st.Entries, func(i, j int) bool { return st.Entries[i].Timestamp.Before(st.Entries[j].Timestamp) })
		req.Streams = append(req.Streams, *st)
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding push request: %w", err)
	}
	return s2.EncodeSnappy(nil, raw), nil
}

// push sends one request. It returns the outcome for all its entries and,
// for a 400, Loki's message; a non-nil error is fatal (credentials).
func (s *Sink) push(ctx context.Context, es []entry) (sinks.Result, string, error) {
	body, err := buildRequest(es)
	if err != nil {
		return sinks.Rejected("encoding", err), "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+"/loki/api/v1/push", bytes.NewReader(body))
	if err != nil {
		return sinks.Result{}, "", err
	}
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
	s.m.pushBytes.Observe(float64(len(body)))
	start := time.Now()
	resp, err := s.http.Do(req)
	s.m.pushLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.pushes.WithLabelValues("error").Inc()
		return sinks.RetryLater("network", fmt.Errorf("pushing to loki: %w", err)), "", nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	s.m.pushes.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	text := strings.TrimSpace(string(msg))
	switch {
	case resp.StatusCode/100 == 2:
		return sinks.Ok(), "", nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return sinks.RetryLater("auth", ErrAuth), "", fmt.Errorf("push: %w (%s): check username/password or bearer_token and the tenant", ErrAuth, resp.Status)
	case resp.StatusCode == http.StatusTooManyRequests:
		return sinks.RetryLater("rate_limited", fmt.Errorf("loki: %s: %s", resp.Status, text)), "", nil
	case resp.StatusCode >= 500:
		return sinks.RetryLater("unavailable", fmt.Errorf("loki: %s: %s", resp.Status, text)), "", nil
	case resp.StatusCode == http.StatusBadRequest:
		return sinks.Rejected("bad_request", fmt.Errorf("loki: %s", text)), text, nil
	}
	return sinks.Rejected("bad_request", fmt.Errorf("loki: %s: %s", resp.Status, text)), text, nil
}

// classify400 names why Loki refused an entry, from its message.
func classify400(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "too far behind") || strings.Contains(m, "too old") || strings.Contains(m, "out of order") || strings.Contains(m, "greater_than_max_sample_age"):
		return "too_old"
	case strings.Contains(m, "too far in the future") || strings.Contains(m, "too_far_in_future"):
		return "too_new"
	case strings.Contains(m, "line too long") || strings.Contains(m, "max line size") || strings.Contains(m, "line_too_long"):
		return "line_too_long"
	case strings.Contains(m, "label") && (strings.Contains(m, "invalid") || strings.Contains(m, "error parsing") || strings.Contains(m, "too many") || strings.Contains(m, "missing")):
		return "invalid_labels"
	case strings.Contains(m, "structured metadata"):
		return "structured_metadata"
	case strings.Contains(m, "rate limit"):
		return "rate_limited"
	}
	return "bad_request"
}

// labelString renders the stream selector of a record: its route's labels
// (sorted by name), or {service="unknown_service"} when it has none,
// since Loki refuses a stream without labels.
func labelString(r *sinks.Record) string {
	if len(r.Dest.Labels) == 0 {
		return `{service="unknown_service"}`
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range r.Dest.Labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.Value))
	}
	b.WriteByte('}')
	return b.String()
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
