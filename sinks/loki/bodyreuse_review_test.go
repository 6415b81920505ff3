package loki

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/sinks"
)

// lateReader is a RoundTripper as net/http allows one to be ("RoundTrip
// must always close the body ... but depending on the implementation may
// do so in a separate goroutine even after RoundTrip returns. This means
// that callers wanting to reuse the body for subsequent requests must
// arrange to wait for the Close call before doing so."): it answers the
// first push 413 before reading its body, and reads that body only later.
// http.Transport does the same when a server answers before it has read
// the whole body (Loki or a proxy refusing a large push with 413; see
// golang/go#30597, #51907).
type lateReader struct {
	mu    sync.Mutex
	first io.ReadCloser
}

func (l *lateReader) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == nil {
		l.first = req.Body
		return &http.Response{StatusCode: 413, Status: "413 Request Entity Too Large", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader("too large")), Request: req}, nil
	}
	_, _ = io.Copy(io.Discard, req.Body)
	_ = req.Body.Close()
	return &http.Response{StatusCode: 204, Status: "204 No Content", Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// A push's body must stay as it was sent until the transport closes it:
// the pooled push buffers must not serve the next push (here the halves
// of a push refused 413) while the transport may still read them.
func TestPush_BodyUnchangedUntilTheTransportClosesIt(t *testing.T) {
	for attempt := 0; attempt < 8; attempt++ {
		s := &Sink{cfg: Default(), m: newMetrics(prometheus.NewRegistry(), "loki")}
		s.cfg.URL = "http://127.0.0.1:1"
		lr := &lateReader{}
		s.http = &http.Client{Transport: lr}
		batch := make([]*sinks.Record, 40)
		for i := range batch {
			batch[i] = record(i, strings.Repeat("y", 100), "")
		}
		if _, err := s.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(lr.first)
		if err != nil {
			t.Fatal(err)
		}
		_ = lr.first.Close()
		raw, err := s2.Decode(nil, body)
		if err != nil {
			t.Fatalf("attempt %d: the first push's body, read after its response was closed, is no longer snappy: %v", attempt, err)
		}
		var req push.PushRequest
		if err := req.Unmarshal(raw); err != nil {
			t.Fatalf("attempt %d: the first push's body, read after its response was closed, is no longer a push request: %v", attempt, err)
		}
		n := 0
		for _, st := range req.Streams {
			n += len(st.Entries)
		}
		if n != len(batch) {
			t.Fatalf("attempt %d: the first push's body, read after its response was closed, holds %d entries, want %d", attempt, n, len(batch))
		}
	}
}
