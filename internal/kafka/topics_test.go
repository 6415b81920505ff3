package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/testkit/testkafka"
)

func TestEnsureTopics_CreatesThenNoop(t *testing.T) {
	c := testkafka.Start(t)
	adm := c.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics := kafka.Default().Topics
	topics.Raw.Configs = map[string]string{"retention.ms": "3600000"}

	states, err := kafka.EnsureTopics(ctx, adm, -1, topics.Specs())
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	want := map[string]int32{"logweave.raw": 12, "logweave.enriched": 12, "logweave.dlq": 3}
	for _, s := range states {
		if !s.Created || s.Partitions != want[s.Topic] || s.Mismatch != nil {
			t.Errorf("first run %s: created=%v partitions=%d mismatch=%v", s.Topic, s.Created, s.Partitions, s.Mismatch)
		}
	}
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range want {
		if got := len(details[name].Partitions); int32(got) != n {
			t.Errorf("%s has %d partitions on the broker, want %d", name, got, n)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "logweave.raw")
	if err != nil {
		t.Fatal(err)
	}
	if len(rc) != 1 || rc[0].Err != nil {
		t.Fatalf("describing logweave.raw configs: %+v", rc)
	}
	var retention string
	for _, cfg := range rc[0].Configs {
		if cfg.Key == "retention.ms" && cfg.Value != nil {
			retention = *cfg.Value
		}
	}
	if retention != "3600000" {
		t.Errorf("retention.ms = %q, want the configured 3600000", retention)
	}

	states, err = kafka.EnsureTopics(ctx, adm, -1, topics.Specs())
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	for _, s := range states {
		if s.Created || s.Partitions != want[s.Topic] || s.Mismatch != nil {
			t.Errorf("second run %s: created=%v partitions=%d mismatch=%v, want a no-op", s.Topic, s.Created, s.Partitions, s.Mismatch)
		}
	}
}

func TestEnsureTopics_PartitionMismatch(t *testing.T) {
	c := testkafka.Start(t)
	adm := c.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 6, -1, nil, "logweave.raw"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, "logweave.dlq"); err != nil {
		t.Fatal(err)
	}
	states, err := kafka.EnsureTopics(ctx, adm, -1, kafka.Default().Topics.Specs())
	if !errors.Is(err, kafka.ErrPartitionMismatch) {
		t.Fatalf("err = %v, want a partition mismatch", err)
	}
	const wantMsg = `topic "logweave.raw" exists with 6 partitions but kafka.topics.raw.partitions is 12: ` +
		`records keyed by submit_id hash to partition murmur2(key) mod count, so both sides must agree; ` +
		`set kafka.topics.raw.partitions: 6 to use the topic as it is, or recreate the topic (its data is lost)`
	if err.Error() != wantMsg {
		t.Errorf("error message:\n got: %s\nwant: %s", err, wantMsg)
	}
	// The DLQ is not keyed: its mismatch is reported but is not an error.
	if strings.Contains(err.Error(), "logweave.dlq") {
		t.Errorf("dlq mismatch should not be an error: %v", err)
	}
	var sawDLQ, sawEnriched bool
	for _, s := range states {
		switch s.Topic {
		case "logweave.dlq":
			sawDLQ = s.Mismatch != nil && s.Mismatch.Have == 1 && !s.Created
		case "logweave.enriched":
			sawEnriched = s.Created && s.Partitions == 12
		}
	}
	if !sawDLQ || !sawEnriched {
		t.Errorf("states = %+v: want dlq mismatch reported and enriched created", states)
	}
}
