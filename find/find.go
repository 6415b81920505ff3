// Package find answers "show me this submission" against Elasticsearch:
// every span and log line of a submission (by submit_id, by user and
// submission sequence, or by trace id), as a span waterfall with each log
// under the span it ran in, plus Kibana and Grafana links.
package find

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Errors of Fetch that callers branch on.
var (
	// ErrNoQuery: the Query selects nothing (a usage error).
	ErrNoQuery = errors.New("give --submit ID, or --user U --seq N, or --trace ID")
	// ErrNotFound: no document matches the query. Fetch returns it with
	// the empty timeline, which WriteText prints as "no documents found".
	ErrNotFound = errors.New("no documents found")
)

// Query selects a submission; set exactly one of SubmitID, User+Seq,
// TraceID.
type Query struct {
	SubmitID string
	User     string
	Seq      int
	TraceID  string
}

func (q Query) body() ([]byte, error) {
	var filters []map[string]any
	switch {
	case q.SubmitID != "":
		filters = append(filters, map[string]any{"term": map[string]any{"submit_id": q.SubmitID}})
	case q.User != "" && q.Seq > 0:
		filters = append(filters, map[string]any{"term": map[string]any{"user_id": q.User}},
			map[string]any{"term": map[string]any{"submission_seq": q.Seq}})
	case q.TraceID != "":
		filters = append(filters, map[string]any{"term": map[string]any{"trace_id": strings.ToLower(q.TraceID)}})
	default:
		return nil, ErrNoQuery
	}
	return json.Marshal(map[string]any{
		"query": map[string]any{"bool": map[string]any{"filter": filters}},
		"size":  10000,
		"sort":  []map[string]any{{"@timestamp": "asc"}},
	})
}

// Doc is the part of a logweave document find shows.
type Doc struct {
	Timestamp     time.Time `json:"@timestamp"`
	RecordID      string    `json:"record_id"`
	Kind          string    `json:"kind"`
	Service       string    `json:"service"`
	Level         string    `json:"level,omitempty"`
	Message       string    `json:"message"`
	SubmitID      string    `json:"submit_id,omitempty"`
	UserID        string    `json:"user_id,omitempty"`
	ProblemID     string    `json:"problem_id,omitempty"`
	SubmissionSeq int       `json:"submission_seq,omitempty"`
	Stage         string    `json:"stage,omitempty"`
	TraceID       string    `json:"trace_id,omitempty"`
	SpanID        string    `json:"span_id,omitempty"`
	ParentSpanID  string    `json:"parent_span_id,omitempty"`
	DurationMS    float64   `json:"duration_ms,omitempty"`
	Status        string    `json:"status,omitempty"`
	StatusMessage string    `json:"status_message,omitempty"`
	KeptBy        string    `json:"kept_by,omitempty"`
	Span          *struct {
		Join string `json:"join"`
	} `json:"span,omitempty"`
}

// Span is a span with its logs and children.
type Span struct {
	Doc
	Depth    int    `json:"depth"`
	OffsetMS int64  `json:"offset_ms"` // start relative to the first span
	Flags    string `json:"flags,omitempty"`
	Logs     []Doc  `json:"logs"`
}

// Timeline is a submission's spans in waterfall order and its logs.
type Timeline struct {
	SubmitID string `json:"submit_id"`
	UserID   string `json:"user_id"`
	Seq      int    `json:"submission_seq"`
	TraceID  string `json:"trace_id"`
	// Spans in start order, parents before children.
	Spans []*Span `json:"spans"`
	// Orphans are logs whose span is not in the result.
	Orphans []Doc             `json:"orphans"`
	Links   map[string]string `json:"links"`
	Took    time.Duration     `json:"took_ns"`
}

// The saved objects the links open, provisioned by the compose stack
// (deploy/kibana/logweave.ndjson, deploy/grafana/dashboards; checked by
// tools/stackcheck).
const (
	// KibanaSavedSearch is the id of the saved search "logweave: one
	// submission" (columns span.name, span.duration_ms, level, message,
	// kept_by on the data view logweave-*).
	KibanaSavedSearch = "logweave-one-submission"
	// GrafanaDashboard is the uid of the dashboard "logweave / one
	// submission"; its variable submit takes the submission.
	GrafanaDashboard = "logweave-submission"
)

// Options shape the output.
type Options struct {
	Index      string        // index pattern; default logweave-*
	Slow       time.Duration // spans longer are flagged SLOW; default 10s
	KibanaURL  string
	GrafanaURL string
}

// Fetch runs the query and builds the timeline. It fails with ErrNoQuery
// when q selects nothing, and returns the empty timeline with ErrNotFound
// when no document matches.
func Fetch(ctx context.Context, cl *es.Client, q Query, opt Options) (*Timeline, error) {
	body, err := q.body()
	if err != nil {
		return nil, err
	}
	if opt.Index == "" {
		opt.Index = "logweave-*"
	}
	start := time.Now()
	res, err := esapi.SearchRequest{Index: []string{opt.Index}, Body: bytes.NewReader(body)}.Do(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("searching %s: %w", opt.Index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return nil, fmt.Errorf("searching %s: %s: %s", opt.Index, res.Status(), b)
	}
	var sr struct {
		Hits struct {
			Hits []struct {
				Source Doc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		return nil, fmt.Errorf("decoding search response: %w", err)
	}
	docs := make([]Doc, 0, len(sr.Hits.Hits))
	for _, h := range sr.Hits.Hits {
		docs = append(docs, h.Source)
	}
	tl := Build(docs, opt)
	tl.Took = time.Since(start)
	if tl.SubmitID == "" {
		return tl, ErrNotFound
	}
	return tl, nil
}

// Build turns documents into a timeline.
func Build(docs []Doc, opt Options) *Timeline {
	if opt.Slow <= 0 {
		opt.Slow = 10 * time.Second
	}
	tl := &Timeline{Links: map[string]string{}}
	spans := map[string]*Span{}
	var order []*Span
	for _, d := range docs {
		if tl.SubmitID == "" {
			tl.SubmitID, tl.UserID, tl.Seq, tl.TraceID = d.SubmitID, d.UserID, d.SubmissionSeq, d.TraceID
		}
		if d.Kind == v1.KindSpan {
			s := &Span{Doc: d}
			spans[d.SpanID] = s
			order = append(order, s)
		}
	}
	for _, d := range docs {
		if d.Kind != v1.KindLog {
			continue
		}
		if s := spans[d.SpanID]; s != nil && d.SpanID != "" {
			s.Logs = append(s.Logs, d)
		} else {
			tl.Orphans = append(tl.Orphans, d)
		}
	}
	// Depth from the parent chain; waterfall order: by start, parents
	// first.
	var first time.Time
	for _, s := range order {
		if first.IsZero() || s.Timestamp.Before(first) {
			first = s.Timestamp
		}
	}
	for _, s := range order {
		for p, n := spans[s.ParentSpanID], 0; p != nil && n < 64; p, n = spans[p.ParentSpanID], n+1 {
			s.Depth++
		}
		s.OffsetMS = s.Timestamp.Sub(first).Milliseconds()
		var flags []string
		if s.Status == v1.StatusCode_STATUS_CODE_ERROR.Name() {
			flags = append(flags, "ERROR")
		}
		if time.Duration(s.DurationMS*float64(time.Millisecond)) > opt.Slow {
			flags = append(flags, "SLOW")
		}
		s.Flags = strings.Join(flags, ",")
	}
	sort.SliceStable(order, func(i, j int) bool {
		if !order[i].Timestamp.Equal(order[j].Timestamp) {
			return order[i].Timestamp.Before(order[j].Timestamp)
		}
		return order[i].Depth < order[j].Depth
	})
	tl.Spans = order
	if tl.SubmitID != "" && len(docs) > 0 {
		fromT, toT := docs[0].Timestamp.Add(-time.Minute).UTC(), docs[len(docs)-1].Timestamp.Add(time.Minute).UTC()
		from, to := fromT.Format(time.RFC3339), toT.Format(time.RFC3339)
		if opt.KibanaURL != "" {
			tl.Links["kibana"] = strings.TrimRight(opt.KibanaURL, "/") + "/app/discover#/view/" + KibanaSavedSearch +
				"?_g=(time:(from:'" + from + "',to:'" + to + "'))" +
				"&_a=(query:(language:kuery,query:'" + url.QueryEscape(`submit_id:"`+tl.SubmitID+`"`) + "'),sort:!(!('@timestamp',asc)))"
		}
		if opt.GrafanaURL != "" {
			q := url.Values{}
			q.Set("var-submit", tl.SubmitID)
			q.Set("from", strconv.FormatInt(fromT.UnixMilli(), 10))
			q.Set("to", strconv.FormatInt(toT.UnixMilli(), 10))
			tl.Links["grafana"] = strings.TrimRight(opt.GrafanaURL, "/") + "/d/" + GrafanaDashboard + "/logweave-one-submission?" + q.Encode()
		}
	}
	return tl
}

// WriteText prints the waterfall.
func WriteText(w io.Writer, tl *Timeline) {
	if tl.SubmitID == "" {
		fmt.Fprintln(w, "no documents found")
		return
	}
	fmt.Fprintf(w, "submission %s  user %s  seq %d  trace %s\n\n", tl.SubmitID, tl.UserID, tl.Seq, tl.TraceID)
	for _, s := range tl.Spans {
		flags := ""
		if s.Flags != "" {
			flags = "  <-- " + s.Flags
		}
		stage := s.Stage
		if stage == "" {
			stage = "-"
		}
		fmt.Fprintf(w, "%s%-12s %-9s %-10s +%6dms %8.1fms  %s%s\n", strings.Repeat("  ", s.Depth), s.Message, stage, s.Service,
			s.OffsetMS, s.DurationMS, s.Status, flags)
		if s.StatusMessage != "" {
			fmt.Fprintf(w, "%s  status: %s\n", strings.Repeat("  ", s.Depth), s.StatusMessage)
		}
		for _, l := range s.Logs {
			fmt.Fprintf(w, "%s  %s %-5s %s\n", strings.Repeat("  ", s.Depth), l.Timestamp.UTC().Format("15:04:05.000"), l.Level, l.Message)
		}
	}
	if len(tl.Orphans) > 0 {
		fmt.Fprintln(w, "logs without a span:")
		for _, l := range tl.Orphans {
			fmt.Fprintf(w, "  %s %-5s %s\n", l.Timestamp.UTC().Format("15:04:05.000"), l.Level, l.Message)
		}
	}
	if k := tl.Links["kibana"]; k != "" {
		fmt.Fprintf(w, "\nKibana:  %s\n", k)
	}
	if g := tl.Links["grafana"]; g != "" {
		fmt.Fprintf(w, "Grafana: %s\n", g)
	}
}

// WriteJSON prints the timeline as JSON.
func WriteJSON(w io.Writer, tl *Timeline) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(tl)
}
