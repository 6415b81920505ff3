package gen

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/ingest"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/testkafka"
)

var testRates = Rates{Error: 0.1, Timeout: 0.05, Slow: 0.1, Crash: 0.05}

func TestPlanner_Deterministic(t *testing.T) {
	end := time.Unix(1_800_000_000, 0)
	a, b, c := NewPlanner(42, 50, testRates), NewPlanner(42, 50, testRates), NewPlanner(43, 50, testRates)
	for i := 0; i < 200; i++ {
		sa, sb, sc := a.Next(end), b.Next(end), c.Next(end)
		if !reflect.DeepEqual(sa, sb) {
			t.Fatalf("submission %d differs for the same seed", i)
		}
		if reflect.DeepEqual(sa, sc) {
			t.Fatalf("submission %d equal for different seeds", i)
		}
	}
}

func TestPlanner_Shape(t *testing.T) {
	p := NewPlanner(7, 20, testRates)
	end := time.Unix(1_800_000_000, 0)
	seqs := map[string]int{}
	var errs, timeouts, crashes int
	const n = 2000
	for i := 0; i < n; i++ {
		s := p.Next(end)
		if s.Seq != seqs[s.UserID]+1 {
			t.Fatalf("%s: seq %d after %d", s.UserID, s.Seq, seqs[s.UserID])
		}
		seqs[s.UserID] = s.Seq
		if len(s.Spans) != 5 || s.Spans[0].Parent != [8]byte{} || !s.Spans[0].End.Equal(end) {
			t.Fatalf("spans = %+v", s.Spans)
		}
		for _, sp := range s.Spans[1:] {
			if sp.Parent != s.Spans[0].ID || sp.Start.Before(s.Spans[0].Start) || sp.End.After(end) {
				t.Fatalf("stage span %s outside its root", sp.Name)
			}
			if n := len(sp.Logs); n < 2 || n > 12 {
				t.Fatalf("%d logs in %s", n, sp.Name)
			}
			for _, l := range sp.Logs {
				if l.Time.Before(sp.Start) || l.Time.After(sp.End) {
					t.Fatalf("log at %v outside span %s [%v, %v]", l.Time, sp.Name, sp.Start, sp.End)
				}
			}
		}
		judge := s.Spans[2]
		if s.Truth.Timeout != (judge.End.Sub(judge.Start) > p.JudgeThreshold) {
			t.Fatalf("timeout truth %v but judge took %v", s.Truth.Timeout, judge.End.Sub(judge.Start))
		}
		if s.Truth.Error {
			errs++
		}
		if s.Truth.Timeout {
			timeouts++
		}
		if s.Truth.Crash != "" {
			crashes++
		}
	}
	// Deterministic seed: these shares are fixed numbers, checked loosely
	// against the configured rates.
	for name, got := range map[string]struct {
		n    int
		rate float64
	}{"error": {errs, testRates.Error}, "timeout": {timeouts, testRates.Timeout}, "crash": {crashes, testRates.Crash}} {
		share := float64(got.n) / n
		if share < got.rate/2 || share > got.rate*2 {
			t.Errorf("%s share %.3f far from rate %.2f", name, share, got.rate)
		}
	}
}

// TestRun_DeliversEverythingToIngest runs the generator against a real
// ingest server on kfake with both log transports and checks that the raw
// topic holds exactly the planned records.
func TestRun_DeliversEverythingToIngest(t *testing.T) {
	for _, logs := range []string{"otlp", "ndjson"} {
		t.Run(logs, func(t *testing.T) {
			c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw"))
			icfg := ingest.Default()
			srv, err := ingest.New(icfg, "logweave.raw", c.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			var manifest bytes.Buffer
			rep, err := Run(context.Background(), Config{URL: hs.URL, Logs: logs, Rate: 500, Count: 40, Seed: 1, Users: 5, Rates: testRates, Manifest: &manifest})
			if err != nil {
				t.Fatalf("run: %v (%s)", err, rep)
			}
			entries, err := ReadManifest(&manifest)
			if err != nil || len(entries) != 40 {
				t.Fatalf("manifest: %d entries, %v", len(entries), err)
			}
			want := map[string][2]int{} // submit_id -> spans, logs
			total := 0
			for _, e := range entries {
				want[e.SubmitID] = [2]int{e.Spans, e.Logs}
				total += e.Spans + e.Logs
			}
			got := map[string][2]int{}
			cl := c.Client(kgo.ConsumeTopics("logweave.raw"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for n := 0; n < total; {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("read %d of %d records", n, total)
				}
				fs.EachRecord(func(r *kgo.Record) {
					n++
					var env v1.Envelope
					if err := proto.Unmarshal(r.Value, &env); err != nil {
						t.Fatal(err)
					}
					g := got[string(r.Key)]
					if env.GetSpan() != nil {
						g[0]++
					} else {
						g[1]++
						if len(env.GetLog().GetSpanId()) != 8 {
							t.Errorf("log without span id: %v", env.GetLog())
						}
					}
					got[string(r.Key)] = g
				})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("records per submission differ from the manifest:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// startIngest runs a real ingest server, OTLP/HTTP and OTLP/gRPC on
// 127.0.0.1, producing to kfake, and returns the HTTP base URL and the
// gRPC endpoint URL.
func startIngest(t *testing.T, c *testkafka.Cluster) (httpURL, grpcURL string) {
	t.Helper()
	icfg := ingest.Default()
	srv, err := ingest.New(icfg, "logweave.raw", c.Client(ingest.ProducerOptions(icfg)...), ingest.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
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
	return hs.URL, "http://" + ln.Addr().String()
}

// readRaw reads n records from the start of logweave.raw.
func readRaw(t *testing.T, c *testkafka.Cluster, n int) []*kgo.Record {
	t.Helper()
	cl := c.Client(kgo.ConsumeTopics("logweave.raw"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// level is the manifest's level of a log severity.
func level(n v1.SeverityNumber) string {
	switch {
	case n >= v1.SeverityNumber_SEVERITY_NUMBER_ERROR:
		return "error"
	case n >= v1.SeverityNumber_SEVERITY_NUMBER_WARN:
		return "warn"
	case n >= v1.SeverityNumber_SEVERITY_NUMBER_INFO:
		return "info"
	}
	return "debug"
}

// TestRun_RealSDKModes runs the generator as real SDK deployments send:
// logs with only the trace context, each service with the SDK's default
// batch processors, the root service's timers out of phase, over both
// protocols. The raw topic must hold exactly what the manifest says, per
// submission, kind, service and level, every log with no submission
// fields, keyed by its trace id, and with a span id. NDJSON logs (with
// spans over gRPC) drop the submission fields the same way.
func TestRun_RealSDKModes(t *testing.T) {
	for _, tc := range []struct{ protocol, logs string }{{"http", "otlp"}, {"grpc", "otlp"}, {"grpc", "ndjson"}} {
		t.Run(tc.protocol+"-"+tc.logs, func(t *testing.T) {
			c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw"))
			httpURL, grpcURL := startIngest(t, c)
			var manifest bytes.Buffer
			cfg := Config{URL: httpURL, GRPCURL: grpcURL, Protocol: tc.protocol, Logs: tc.logs, Rate: 200, Count: 30, Seed: 3, Users: 5,
				Rates: testRates, Manifest: &manifest, TraceContextLogs: true, DefaultBatching: true, PhaseOffset: 300 * time.Millisecond}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("run: %v (%s)", err, rep)
			}
			entries, err := ReadManifest(&manifest)
			if err != nil || len(entries) != 30 {
				t.Fatalf("manifest: %d entries, %v", len(entries), err)
			}
			want := map[string][]RecordCount{}
			byTrace := map[string]string{}
			total := 0
			for _, e := range entries {
				want[e.SubmitID] = e.Records
				byTrace[e.TraceID] = e.SubmitID
				total += e.Spans + e.Logs
			}
			counts := map[string]map[RecordCount]int{}
			for _, r := range readRaw(t, c, total) {
				var env v1.Envelope
				if err := proto.Unmarshal(r.Value, &env); err != nil {
					t.Fatal(err)
				}
				var (
					sub string
					k   RecordCount
				)
				if sp := env.GetSpan(); sp != nil {
					sub, k = sp.GetSubmission().GetSubmitId(), RecordCount{Kind: "span", Service: sp.Service}
					if string(r.Key) != sub {
						t.Errorf("span keyed %q, want its submit_id %q", r.Key, sub)
					}
				} else {
					l := env.GetLog()
					sub = byTrace[hex.EncodeToString(l.TraceId)]
					k = RecordCount{Kind: "log", Service: l.Service, Level: level(l.SeverityNumber)}
					if s := l.GetSubmission(); s.GetSubmitId() != "" || s.GetUserId() != "" || s.GetStage() != v1.Stage_STAGE_UNSPECIFIED {
						t.Errorf("trace-context log carries submission fields %v", s)
					}
					if string(r.Key) != hex.EncodeToString(l.TraceId) || len(l.SpanId) != 8 {
						t.Errorf("log keyed %q with span id %x, want its trace id and a span id", r.Key, l.SpanId)
					}
				}
				if sub == "" {
					t.Fatalf("record of no planned submission: %v", &env)
				}
				if counts[sub] == nil {
					counts[sub] = map[RecordCount]int{}
				}
				counts[sub][k]++
			}
			for id, recs := range want {
				got := map[RecordCount]int{}
				for _, rc := range recs {
					k := rc
					k.Count = 0
					got[k] = rc.Count
				}
				if !reflect.DeepEqual(counts[id], got) {
					t.Errorf("%s: raw topic holds %v, manifest says %v", id, counts[id], got)
				}
			}
		})
	}
}

// DefaultConfig is valid once bounded, and its judge threshold is the
// planner's own default.
func TestDefaultConfig_ValidOnceBounded(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err == nil {
		t.Error("DefaultConfig without Count or Duration validated; the run would be unbounded")
	}
	cfg.Count = 10
	if err := cfg.Validate(); err != nil {
		t.Errorf("DefaultConfig with Count 10: %v", err)
	}
	if p := NewPlanner(1, 1, Rates{}); p.JudgeThreshold != cfg.JudgeThreshold {
		t.Errorf("the planner's threshold %s differs from DefaultConfig's %s", p.JudgeThreshold, cfg.JudgeThreshold)
	}
}
