package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
)

// lateReader is a RoundTripper as net/http allows one to be ("RoundTrip
// must always close the body ... but depending on the implementation may
// do so in a separate goroutine even after RoundTrip returns. This means
// that callers wanting to reuse the body for subsequent requests must
// arrange to wait for the Close call before doing so."): it answers the
// first bulk request 413 before reading its body, and reads that body only
// later. http.Transport does the same when a server answers before it has
// read the whole body (Elasticsearch past http.max_content_length, or a
// proxy's body limit; golang/go#30597, #51907).
type lateReader struct {
	mu    sync.Mutex
	first io.ReadCloser
}

func (l *lateReader) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := http.Header{"X-Elastic-Product": {"Elasticsearch"}, "Content-Type": {"application/json"}}
	if l.first == nil {
		l.first = req.Body
		return &http.Response{StatusCode: 413, Status: "413 Request Entity Too Large", Header: h,
			Body: io.NopCloser(strings.NewReader("too large")), Request: req}, nil
	}
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(zr)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(`{"errors":false,"items":[`)
	for i := range bytes.Count(plain, []byte("\n")) / 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"create":{"status":201}}`)
	}
	b.WriteString(`]}`)
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: h, Body: io.NopCloser(strings.NewReader(b.String())), Request: req}, nil
}

// A bulk request's gzipped body must stay as it was sent until the
// transport closes it: the pooled output buffer must not serve the next
// request (here the halves of a request refused 413) while the transport
// may still read it.
func TestSink_GzipBodyUnchangedUntilTheTransportClosesIt(t *testing.T) {
	for attempt := 0; attempt < 8; attempt++ {
		cfg := Default()
		cfg.Template.Install = false
		lr := &lateReader{}
		cl, err := newClient(cfg, func(ec *es.Config) { ec.Transport = lr; ec.DisableRetry = true })
		if err != nil {
			t.Fatal(err)
		}
		gz, err := newCompressor(cfg.CompressLevel)
		if err != nil {
			t.Fatal(err)
		}
		s := &Sink{cfg: cfg, cl: cl, m: newMetrics(prometheus.NewRegistry(), "es"), gz: gz}
		batch := records(40, "g")
		write(t, s, batch)
		if lr.first == nil {
			t.Fatal("no request was sent")
		}
		zr, err := gzip.NewReader(lr.first)
		if err != nil {
			t.Fatalf("attempt %d: the first request's body, read after its response was closed, is no longer gzip: %v", attempt, err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("attempt %d: the first request's body, read after its response was closed, is no longer gzip: %v", attempt, err)
		}
		_ = lr.first.Close()
		if n := bytes.Count(plain, []byte("\n")) / 2; n != len(batch) {
			t.Fatalf("attempt %d: the first request's body, read after its response was closed, holds %d documents, want %d", attempt, n, len(batch))
		}
	}
}
