package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logweave/logweave/testkit/testkafka"
)

// Processes of a fleet start in any order: ingest and enrich started before
// their broker, or before the topics exist, wait with /readyz not ready
// instead of exiting, and become ready once Kafka is there.

// freeAddr returns a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// brokerAt starts kfake on addr.
func brokerAt(t *testing.T, addr string, opts ...kfake.Opt) *testkafka.Cluster {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return testkafka.Start(t, append([]kfake.Opt{kfake.Ports(n)}, opts...)...)
}

// waitStderr waits until the process logged a line matching re and returns
// the match, failing if the process exits first.
func (p *proc) waitStderr(t *testing.T, what string, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case err := <-p.done:
			t.Fatalf("process exited (%v) before %s; stderr:\n%s", err, what, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s; stderr:\n%s", what, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var adminLine = regexp.MustCompile(`msg="admin server listening" .*?addr=(\S+)`)

func readyz(t *testing.T, admin string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *proc) waitReady(t *testing.T, admin string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := readyz(t, admin)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after 30s: %s\nstderr:\n%s", code, body, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIngest_StartedBeforeBrokerWaitsNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	addr := freeAddr(t)
	p := start(t, "ingest", "--brokers", addr, "--admin", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
	admin := p.waitStderr(t, "the admin server", adminLine)[1]
	p.waitStderr(t, "a retry warning", regexp.MustCompile(`level=WARN msg="kafka not ready, retrying" role=ingest step="bootstrapping topics" attempt=\d+ retry_in=\S+ err=".*unable to dial`))
	if code, body := readyz(t, admin); code != http.StatusServiceUnavailable || !strings.Contains(body, "ingest-startup: waiting for kafka: retrying after:") {
		t.Errorf("/readyz while the broker is down = %d %q", code, body)
	}

	c := brokerAt(t, addr)
	p.waitLine(t, "ingest listening on ")
	p.waitReady(t, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := c.Admin().ListTopics(ctx, "logweave.raw", "logweave.enriched", "logweave.dlq")
	if err != nil || len(details) != 3 || details.Error() != nil {
		t.Errorf("topics after startup: %v %v", details, err)
	}
	p.stop(t)
}

func TestEnrich_StartedBeforeBrokerAndTopicsWaitsNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	addr := freeAddr(t)
	p := start(t, "enrich", "--brokers", addr, "--admin", "127.0.0.1:0")
	admin := p.waitStderr(t, "the admin server", adminLine)[1]
	p.waitStderr(t, "a retry warning for the broker", regexp.MustCompile(`msg="kafka not ready, retrying" role=enrich .*err=".*unable to dial`))
	if code, body := readyz(t, admin); code != http.StatusServiceUnavailable || !strings.Contains(body, "enrich-startup: waiting for kafka") {
		t.Errorf("/readyz while the broker is down = %d %q", code, body)
	}

	// The broker is up, the topics are not (ingest creates them).
	c := brokerAt(t, addr)
	p.waitStderr(t, "a retry warning for the topics", regexp.MustCompile(`msg="kafka not ready, retrying" role=enrich .*err=".*UNKNOWN_TOPIC_OR_PARTITION`))
	if code, body := readyz(t, admin); code != http.StatusServiceUnavailable || !strings.Contains(body, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("/readyz while the topics are missing = %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for topic, n := range map[string]int32{"logweave.raw": 4, "logweave.enriched": 4, "logweave.dlq": 1} {
		if _, err := c.Admin().CreateTopic(ctx, n, -1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	p.waitReady(t, admin)
	p.stop(t)
}

func TestEnrich_PartitionMismatchExitsWithoutRetrying(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := testkafka.Start(t, kfake.SeedTopics(4, "logweave.raw"), kfake.SeedTopics(2, "logweave.enriched"))
	p := start(t, "enrich", "--brokers", c.Brokers()[0], "--admin", "127.0.0.1:0")
	select {
	case err := <-p.done:
		if err == nil {
			t.Fatal("enrich exited 0 with raw and enriched partition counts differing")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("enrich still running 30s after start with mismatched topics; stderr:\n%s", p.stderr.String())
	}
	stderr := p.stderr.String()
	if !strings.Contains(stderr, "logweave.raw has 4 partitions but logweave.enriched has 2") || strings.Contains(stderr, "retrying") {
		t.Errorf("stderr:\n%s", stderr)
	}
}
