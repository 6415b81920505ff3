package ingest

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logweave/logweave/testkit/testkafka"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestIngest_BrokerDownMidStream stops the broker while requests are being
// sent. Requests must then get 503 with Retry-After, never 200, and every
// line of every 200 response must be in the topic once the broker is back.
func TestIngest_BrokerDownMidStream(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	kopts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(testPartitions, testTopic)}
	c := testkafka.Start(t, kopts...)
	cfg := Default()
	cfg.ProduceTimeout = 1500 * time.Millisecond
	e := newTestEnvOn(t, c, cfg)
	e.now = time.Now()

	var (
		acked    []string // bodies of lines answered 200
		unavail  int
		requests int
		closedAt = -1
		deadline = time.Now().Add(60 * time.Second)
	)
	for unavail < 3 && time.Now().Before(deadline) {
		var lines []string
		var bodies []string
		for i := 0; i < 5; i++ {
			body := fmt.Sprintf("req %d line %d", requests, i)
			bodies = append(bodies, body)
			lines = append(lines, fmt.Sprintf(`{"msg":%q,"submit_id":"S%d","ts":%d}`, body, requests%17, e.now.Unix()))
		}
		requests++
		if requests == 20 {
			// Stop the broker while the next requests are in flight:
			// close it from another goroutine shortly after sending.
			closedAt = requests
			go func() {
				time.Sleep(2 * time.Millisecond)
				c.Close()
			}()
		}
		code, hdr, resp := e.post("/v1/ndjson", "application/x-ndjson", []byte(strings.Join(lines, "\n")), nil)
		switch code {
		case 200:
			var r ndjsonResponse
			if err := json.Unmarshal(resp, &r); err != nil || r.Accepted != 5 {
				t.Fatalf("200 with body %s", resp)
			}
			acked = append(acked, bodies...)
		case 503:
			unavail++
			if hdr.Get("Retry-After") != "5" || !strings.Contains(string(resp), "kafka did not acknowledge the records") {
				t.Errorf("503 headers %v body %s", hdr, resp)
			}
		default:
			t.Fatalf("status %d: %s", code, resp)
		}
	}
	if closedAt < 0 || unavail < 3 {
		t.Fatalf("broker never looked down: %d requests, %d answered 503", requests, unavail)
	}
	if len(acked) < 19*5 {
		t.Fatalf("only %d lines acknowledged before the outage", len(acked))
	}

	// Bring the broker back on the same data and read everything.
	c2 := testkafka.Start(t, kopts...)
	recs := readTopic(t, c2, len(acked))
	inTopic := map[string]bool{}
	for _, r := range recs {
		inTopic[decodeEnvelope(t, r.Value).GetLog().GetBody()] = true
	}
	for _, b := range acked {
		if !inTopic[b] {
			t.Errorf("line %q was answered 200 but is not in the topic", b)
		}
	}
	t.Logf("%d requests, %d lines acknowledged, %d answered 503, %d records in topic", requests, len(acked), unavail, len(recs))
}
