package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/testkit/testkafka"
)

// waitMemberClientID waits until group has exactly one member and returns
// the client id the broker recorded for it.
func waitMemberClientID(t *testing.T, c *testkafka.Cluster, group string) string {
	t.Helper()
	adm := c.Admin()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		described, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			if g := described[group]; g.Err == nil && len(g.Members) == 1 {
				return g.Members[0].ClientID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s has no single member within 20s: %v %+v", group, err, described[group])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The brokers see the role in the client id, both for a role's main client
// (NewClient) and for a client a role builds itself from Options (as the
// enricher and the sink runtime do).
func TestClients_RoleClientIDSeenByBroker(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(1, "t"))
	cfg := kafka.Default()
	cfg.Brokers = c.Brokers()
	clients := kafka.NewClients(cfg, nil, prometheus.NewRegistry())

	main, err := clients.NewClient("enrich", kgo.ConsumerGroup("g-enrich"), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	opts, err := clients.Options("sink-es")
	if err != nil {
		t.Fatal(err)
	}
	own, err := kgo.NewClient(append(opts, kgo.ConsumerGroup("g-sink"), kgo.ConsumeTopics("t"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	for _, cl := range []*kgo.Client{main, own} {
		go func() {
			for ctx := context.Background(); ; {
				if cl.PollFetches(ctx).IsClientClosed() {
					return
				}
			}
		}()
	}
	for group, want := range map[string]string{"g-enrich": "logweave-enrich", "g-sink": "logweave-sink-es"} {
		if got := waitMemberClientID(t, c, group); got != want {
			t.Errorf("group %s: broker sees client id %q, want %q", group, got, want)
		}
	}
}

// Two clients of the same role on one registry (a one-shot tool run twice
// in a process, a role restarted by logweave dev) do not panic on kprom's
// duplicate registration: the second goes unmetered while the first is
// open, and the role's metrics can be registered again once it closed.
func TestClients_SameRoleTwiceOnOneRegistry(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(1, "t"))
	cfg := kafka.Default()
	cfg.Brokers = c.Brokers()
	reg := prometheus.NewRegistry()
	clients := kafka.NewClients(cfg, nil, reg)
	produce := func(cl *kgo.Client) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	first, err := clients.NewClient("status")
	if err != nil {
		t.Fatal(err)
	}
	produce(first)
	second, err := clients.NewClient("status")
	if err != nil {
		t.Fatal(err)
	}
	produce(second)
	second.Close()
	if n := produceBytesSeries(t, reg); n != 1 {
		t.Errorf("%d produce-bytes series with both open, want 1 (the first client's)", n)
	}
	first.Close()
	if n := produceBytesSeries(t, reg); n != 0 {
		t.Errorf("%d produce-bytes series after both closed, want 0", n)
	}
	third, err := clients.NewClient("status")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	produce(third)
	// kprom counts a batch in a hook that may run just after the produce
	// promise returned: wait for it, within a deadline.
	deadline := time.Now().Add(10 * time.Second)
	n := produceBytesSeries(t, reg)
	for n != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = produceBytesSeries(t, reg)
	}
	if n != 1 {
		t.Errorf("%d produce-bytes series for a client made after the first closed, want 1", n)
	}
}

// produceBytesSeries counts the series of kprom's produce bytes counter.
func produceBytesSeries(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == kafka.ClientMetricsNamespace+"_produce_bytes_total" {
			return len(mf.GetMetric())
		}
	}
	return 0
}
