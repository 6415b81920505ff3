package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/testkafka"
)

const (
	testTopic      = "logweave.raw"
	testPartitions = 6
)

// testEnv is an ingest server on real TCP producing to kfake.
type testEnv struct {
	t       *testing.T
	cluster *testkafka.Cluster
	srv     *Server
	url     string
	// grpcAddr is the OTLP/gRPC address of the same server.
	grpcAddr string
	reg      *prometheus.Registry
	now      time.Time
}

func newTestEnv(t *testing.T, mutate func(*Config), kopts ...kfake.Opt) *testEnv {
	t.Helper()
	kopts = append([]kfake.Opt{kfake.SeedTopics(testPartitions, testTopic)}, kopts...)
	c := testkafka.Start(t, kopts...)
	cfg := Default()
	cfg.ProduceTimeout = 3 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	return newTestEnvOn(t, c, cfg)
}

func newTestEnvOn(t *testing.T, c *testkafka.Cluster, cfg Config) *testEnv {
	t.Helper()
	e := &testEnv{t: t, cluster: c, reg: prometheus.NewRegistry(), now: time.Unix(1_800_000_000, 0)}
	cl := c.Client(ProducerOptions(cfg)...)
	srv, err := New(cfg, testTopic, cl, Deps{Registerer: e.reg, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	e.grpcAddr = startGRPC(t, srv)
	return e
}

// startGRPC serves srv's OTLP/gRPC services on a free loopback port until
// the test ends, and returns the address.
func startGRPC(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeGRPC(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("grpc server: %v", err)
		}
	})
	return ln.Addr().String()
}

// post sends a request and returns status, headers and body.
func (e *testEnv) post(path, contentType string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	return e.do(http.MethodPost, path, contentType, body, hdr)
}

// do sends a request with any method; an empty contentType sends none.
func (e *testEnv) do(method, path, contentType string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// records reads the raw topic from the start until want records arrived.
func (e *testEnv) records(want int) []*kgo.Record {
	e.t.Helper()
	return readTopic(e.t, e.cluster, want)
}

func readTopic(t *testing.T, c *testkafka.Cluster, want int) []*kgo.Record {
	t.Helper()
	cl := c.Client(kgo.ConsumeTopics(testTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), want, testTopic)
		}
		out = append(out, fs.Records()...)
	}
	// Anything beyond want arriving right away is a bug in the test or the
	// code: look briefly.
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(short).Records()...)
	return out
}

func decodeEnvelope(t *testing.T, b []byte) *v1.Envelope {
	t.Helper()
	var env v1.Envelope
	if err := proto.Unmarshal(b, &env); err != nil {
		t.Fatalf("decoding envelope: %v", err)
	}
	return &env
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// murmur2 is Kafka's murmur2 as the Java client's Utils.murmur2 computes it,
// written from the algorithm description, so that partitioning is checked
// independently of franz-go.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

func expectedPartition(key []byte, n int32) int32 {
	return (murmur2(key) & 0x7fffffff) % n
}

type kgoRecord = kgo.Record

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
