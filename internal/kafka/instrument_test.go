package kafka

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/logweave/logweave/testkit/testkafka"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClientMetrics_TwoClientsOneRegistry: the clients of one process
// (logweave dev runs every role in one) each get their own kprom
// collectors on the shared registry, and franz-go logs through slog.
func TestClientMetrics_TwoClientsOneRegistry(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(1, "t"))
	reg := prometheus.NewRegistry()
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, name := range []string{"ingest", "sink-es"} {
		cl := c.Client(ClientMetrics(reg, name), ClientLogger(logger), kgo.DefaultProduceTopic("t"))
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(name)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ingest", "sink-es"} {
		want := `client="` + name + `"`
		found := false
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "logweave_kafka_produce_bytes_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					found = found || (l.GetName()+`="`+l.GetValue()+`"` == want && m.GetCounter().GetValue() > 0)
				}
			}
		}
		if !found {
			n, _ := testutil.GatherAndCount(reg)
			t.Errorf("no logweave_kafka_produce_bytes_total{%s} > 0 among %d series", want, n)
		}
	}
	if !strings.Contains(logs.String(), "component=franz-go") {
		t.Errorf("no franz-go log line through slog:\n%.500s", logs.String())
	}
}

// franz-go's info messages (a few per transaction) are logged at debug: at
// the default info level only its warnings and errors reach the output;
// at debug everything does.
func TestClientLogger_InfoAsDebug(t *testing.T) {
	for _, c := range []struct {
		level     slog.Level
		wantInfo  bool
		wantLevel kgo.LogLevel
	}{{slog.LevelInfo, false, kgo.LogLevelWarn}, {slog.LevelDebug, true, kgo.LogLevelDebug}, {slog.LevelError, false, kgo.LogLevelError}} {
		var out lockedBuffer
		l := infoAsDebug{kslogFor(&out, c.level)}
		if got := l.Level(); got != c.wantLevel {
			t.Errorf("handler at %s: franz-go level %v, want %v", c.level, got, c.wantLevel)
		}
		l.Log(kgo.LogLevelInfo, "ending transaction")
		l.Log(kgo.LogLevelError, "group manage loop errored")
		if got := strings.Contains(out.String(), "ending transaction"); got != c.wantInfo {
			t.Errorf("handler at %s: franz-go info logged %v, want %v:\n%s", c.level, got, c.wantInfo, out.String())
		}
		if !strings.Contains(out.String(), "group manage loop errored") {
			t.Errorf("handler at %s: franz-go error not logged:\n%s", c.level, out.String())
		}
	}
}

func kslogFor(out *lockedBuffer, level slog.Level) kgo.Logger {
	return kslog.New(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})))
}
