package gen

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// ndjsonSender posts log lines as a zap-style JSON logger would write them.
type ndjsonSender struct {
	url    string
	token  string
	client *http.Client
	buf    bytes.Buffer
	lines  int
	last   time.Time
	c      *counts
	// traceContextOnly leaves the submission fields out of the lines.
	traceContextOnly bool
}

func newNDJSONSender(baseURL, token string, traceContextOnly bool, c *counts) *ndjsonSender {
	return &ndjsonSender{url: baseURL + "/v1/ndjson", token: token, client: &http.Client{Timeout: 30 * time.Second}, c: c, last: time.Now(),
		traceContextOnly: traceContextOnly}
}

type ndjsonLine struct {
	Level         string `json:"level"`
	Msg           string `json:"msg"`
	Service       string `json:"service"`
	TraceID       string `json:"trace_id"`
	SpanID        string `json:"span_id"`
	SubmitID      string `json:"submit_id,omitempty"`
	UserID        string `json:"user_id,omitempty"`
	ProblemID     string `json:"problem_id,omitempty"`
	SubmissionSeq int    `json:"submission_seq,omitempty"`
	Lang          string `json:"lang,omitempty"`
	Stage         string `json:"stage,omitempty"`
	LogType       string `json:"log_type,omitempty"`
	Reason        string `json:"k8s.event.reason,omitempty"`
}

func (n *ndjsonSender) add(sub *Submission, sp *Span, l *Log) {
	line := ndjsonLine{
		Level: l.Level, Msg: l.Body, Service: sp.Service,
		TraceID: hex.EncodeToString(sub.TraceID[:]), SpanID: hex.EncodeToString(sp.ID[:]),
	}
	if !n.traceContextOnly {
		line.SubmitID, line.UserID, line.ProblemID, line.SubmissionSeq, line.Lang, line.Stage = sub.SubmitID, sub.UserID, sub.ProblemID, sub.Seq, sub.Lang, sp.Stage
	}
	if l.Event {
		line.LogType, line.Reason = "event", l.Reason
	}
	b, _ := json.Marshal(line)
	// ts as zap writes it, epoch seconds with a fraction; appended by hand
	// with exactly microsecond digits so that parsing it back is exact.
	us := l.Time.UnixMicro()
	b = append(b[:len(b)-1], fmt.Sprintf(`,"ts":%d.%06d}`, us/1e6, us%1e6)...)
	n.buf.Write(b)
	n.buf.WriteByte('\n')
	n.lines++
}

// maybeFlush posts when enough lines are buffered or enough time passed.
func (n *ndjsonSender) maybeFlush(ctx context.Context) {
	if n.lines >= 500 || (n.lines > 0 && time.Since(n.last) > 200*time.Millisecond) {
		n.flush(ctx)
	}
}

// flush posts the buffered lines, retrying 429, 5xx and network errors with
// the server's Retry-After, up to five attempts.
func (n *ndjsonSender) flush(ctx context.Context) {
	if n.lines == 0 {
		return
	}
	body := append([]byte(nil), n.buf.Bytes()...)
	lines := n.lines
	n.buf.Reset()
	n.lines = 0
	n.last = time.Now()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var wait time.Duration
		wait, err = n.post(ctx, body, lines)
		if err == nil {
			return
		}
		if wait == 0 || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	n.c.logErrs.Add(int64(lines))
	n.c.fail(err)
}

func (n *ndjsonSender) post(ctx context.Context, body []byte, lines int) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return time.Second, fmt.Errorf("posting ndjson: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusOK:
		var r struct {
			Accepted int `json:"accepted"`
		}
		json.Unmarshal(rb, &r) //nolint:errcheck // counted as errors below
		n.c.logs.Add(int64(r.Accepted))
		if r.Accepted != lines {
			n.c.logErrs.Add(int64(lines - r.Accepted))
			n.c.fail(fmt.Errorf("ingest rejected %d of %d ndjson lines: %s", lines-r.Accepted, lines, rb))
		}
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return wait, fmt.Errorf("ingest answered %d: %s", resp.StatusCode, rb)
	default:
		return 0, fmt.Errorf("ingest answered %d: %s", resp.StatusCode, rb)
	}
}
