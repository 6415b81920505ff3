package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/testkit/testkafka"
)

// batchCodecs records the codec of every batch the producer wrote.
type batchCodecs struct {
	mu    sync.Mutex
	types map[uint8]int
}

func (b *batchCodecs) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.types[m.CompressionType]++
}

func (b *batchCodecs) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.types)
}

// only is the one codec seen, or 255 when there were several.
func (b *batchCodecs) only() (codec uint8, kinds int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.types) != 1 {
		return 255, len(b.types)
	}
	for t := range b.types {
		codec = t
	}
	return codec, 1
}

// TestProducerOptions_EveryCompressionWritesItsCodec: each compression
// setting (and the default) produces batches with that Kafka codec, and a
// consumer reads back the same records whatever the codec (docs/ingest.md:
// any Kafka client reads the raw topic).
func TestProducerOptions_EveryCompressionWritesItsCodec(t *testing.T) {
	// Enough similar records that every partition's batch compresses
	// (franz-go sends a batch uncompressed when the codec would not
	// shrink it).
	_, body := codecBenchRequests(0, 25)
	const records = 25 * 20
	var want []string
	for _, tc := range []struct {
		compression string
		codec       uint8 // the batch attributes' codec bits
	}{
		{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4},
		{"", 4}, // Default()
	} {
		name := tc.compression
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			c := testkafka.Start(t, kfake.SeedTopics(testPartitions, testTopic))
			cfg := Default()
			if tc.compression != "" {
				cfg.Compression = tc.compression
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			hook := &batchCodecs{types: map[uint8]int{}}
			cl := c.Client(append(ProducerOptions(cfg), kgo.WithHooks(hook))...)
			srv, err := New(cfg, testTopic, cl, Deps{Registerer: prometheus.NewRegistry(), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			req, _ := http.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-protobuf")
			srv.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			// franz-go calls the hook after the promises that answered
			// the request: wait for it.
			for deadline := time.Now().Add(10 * time.Second); hook.count() == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if codec, n := hook.only(); codec != tc.codec {
				t.Fatalf("batches written with codec %d (%d codecs seen), want %d", codec, n, tc.codec)
			}
			var got []string
			read := readTopic(t, c, records)
			if len(read) != records {
				t.Fatalf("read %d records, want %d", len(read), records)
			}
			for _, r := range read {
				got = append(got, string(r.Key)+"="+string(r.Value))
			}
			sort.Strings(got)
			if want == nil {
				want = got
			} else if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("records read back differ from those of the first codec:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestConfig_Linger(t *testing.T) {
	if got := Default().Linger; got != time.Millisecond {
		t.Errorf("default linger %s, want 1ms", got)
	}
	for _, tt := range []struct {
		value   time.Duration
		wantErr bool
	}{{0, false}, {time.Millisecond, false}, {time.Second, false}, {-time.Millisecond, true}, {2 * time.Second, true}} {
		c := Default()
		c.Linger = tt.value
		err := c.Validate()
		if (err != nil) != tt.wantErr || err != nil && !strings.Contains(err.Error(), "linger: ") {
			t.Errorf("linger %s: %v", tt.value, err)
		}
	}
}

// TestIngest_KafkaTimestampIsTheHandOffTime: the raw topic's record
// timestamps are the wall time the request handed its records to the
// producer (not the receiver's injected clock, which is in 2027 here),
// and a later request's reused Kafka records carry the later time.
func TestIngest_KafkaTimestampIsTheHandOffTime(t *testing.T) {
	e := newTestEnv(t, nil)
	_, body := codecBenchRequests(0, 2)
	const perRequest = 2 * 20
	var bounds [2][2]time.Time
	for i := range bounds {
		bounds[i][0] = time.Now().Truncate(time.Millisecond)
		if code, _, resp := e.post("/v1/logs", "application/x-protobuf", body, nil); code != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, code, resp)
		}
		bounds[i][1] = time.Now()
		// The second request starts in a later millisecond.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Truncate(time.Millisecond).Equal(bounds[i][1].Truncate(time.Millisecond)) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Microsecond)
		}
	}
	recs := e.records(2 * perRequest)
	if len(recs) != 2*perRequest {
		t.Fatalf("%d records, want %d", len(recs), 2*perRequest)
	}
	byTime := map[time.Time]int{}
	for _, r := range recs {
		in := -1
		for i, b := range bounds {
			if !r.Timestamp.Before(b[0]) && !r.Timestamp.After(b[1]) {
				in = i
			}
		}
		if in < 0 {
			t.Fatalf("record timestamp %s outside both requests (%v)", r.Timestamp, bounds)
		}
		byTime[r.Timestamp]++
	}
	if len(byTime) != 2 {
		t.Errorf("timestamps %v, want one per request", byTime)
	}
}

// TestIngest_BytesInFlightBackToZero: logweave_ingest_bytes_in_flight
// counts a request's records when they are handed to the producer and
// takes each away in its promise, so it is back to 0 once requests are
// answered, accepted or refused with 429 (most promises failing at once).
func TestIngest_BytesInFlightBackToZero(t *testing.T) {
	for _, maxBuffered := range []int{100000, 1} {
		t.Run(fmt.Sprint(maxBuffered), func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.MaxBufferedRecords = maxBuffered })
			_, body := codecBenchRequests(0, 5)
			for range 3 {
				code, _, resp := e.post("/v1/logs", "application/x-protobuf", body, nil)
				if want := map[int]int{100000: http.StatusOK, 1: http.StatusTooManyRequests}[maxBuffered]; code != want {
					t.Fatalf("status %d, want %d: %s", code, want, resp)
				}
				if got := counter(t, e.srv.m.bytesInFlight); got != 0 {
					t.Fatalf("bytes in flight %v after the answer, want 0", got)
				}
			}
		})
	}
}
