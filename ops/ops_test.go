package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/testkit/testkafka"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*testkafka.Cluster, *kgo.Client, kafka.Topics) {
	t.Helper()
	c := testkafka.Start(t, kfake.SeedTopics(2, "logweave.raw", "logweave.enriched"))
	topics := kafka.Default().Topics
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	add := func(topic string, p int32, n int) {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x"), Timestamp: t0.Add(time.Duration(len(recs)) * time.Minute)})
		}
	}
	add("logweave.enriched", 0, 5)
	add("logweave.enriched", 1, 3)
	add("logweave.raw", 0, 3)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	commit := func(group string, p int32, at int64) {
		os := make(kadm.Offsets)
		os.Add(kadm.Offset{Topic: "logweave.enriched", Partition: p, At: at, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(context.Background(), group, os); err != nil {
			t.Fatal(err)
		}
	}
	commit("logweave-sink-file", 0, 2)
	commit("logweave-sink-file", 1, 3)
	commit("other-app", 0, 1) // not logweave's: not reported
	return c, cl, topics
}

func TestStatus_Golden(t *testing.T) {
	c, cl, topics := setup(t)
	// An active member of the es sink group that has consumed everything.
	member := c.Client(kgo.ClientID("sink-es-1"), kgo.ConsumerGroup("logweave-sink-es"), kgo.ConsumeTopics("logweave.enriched"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for n := 0; n < 8; {
		n += len(member.PollFetches(ctx).Records())
		if ctx.Err() != nil {
			t.Fatal("member did not consume")
		}
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	// The enricher group exists with no commits yet: give it a member that
	// leaves, so the group is known but empty.
	enr := c.Client(kgo.ConsumerGroup("logweave-enrich"), kgo.ConsumeTopics("logweave.raw"))
	enr.PollFetches(ctx)
	enr.Close()

	groups, err := Status(ctx, cl, topics)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, groups, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status.golden")
	if *update {
		os.WriteFile(golden, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("status table differs from %s:\n%s", golden, buf.String())
	}
	var js bytes.Buffer
	WriteJSON(&js, groups)
	var decoded []Group
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || len(decoded) != 3 {
		t.Fatalf("json: %v, %d groups", err, len(decoded))
	}
	if decoded[1].Group != "logweave-sink-es" || len(decoded[1].Members) != 1 || decoded[1].Lag != 0 {
		t.Errorf("es group = %+v", decoded[1])
	}
}

func TestSetOffsets_RefusesActiveGroupWorksWhenEmpty(t *testing.T) {
	c, cl, _ := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	member := c.Client(kgo.ConsumerGroup("logweave-sink-file"), kgo.ConsumeTopics("logweave.enriched"), kgo.DisableAutoCommit())
	member.PollFetches(ctx)
	_, err := SetOffsets(ctx, cl, "logweave-sink-file", "logweave.enriched", "earliest")
	if !errors.Is(err, ErrGroupActive) {
		t.Fatalf("err = %v, want a refusal while the group has members", err)
	}
	member.Close()

	got, err := SetOffsets(ctx, cl, "logweave-sink-file", "logweave.enriched", t0.Add(3*time.Minute).Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	// Records 0-4 on p0 (minutes 0-4), 5-7 on p1 (minutes 5-7): the first
	// at or after minute 3 is p0 offset 3; p1 starts after it, at 0.
	if got[0] != 3 || got[1] != 0 {
		t.Errorf("offsets at time = %v", got)
	}
	got, err = SetOffsets(ctx, cl, "logweave-sink-file", "logweave.enriched", "latest")
	if err != nil || got[0] != 5 || got[1] != 3 {
		t.Errorf("latest = %v, %v", got, err)
	}
	offs, _ := kadm.NewClient(cl).FetchOffsets(ctx, "logweave-sink-file")
	if o, _ := offs.Lookup("logweave.enriched", 0); o.At != 5 {
		t.Errorf("committed after set = %d", o.At)
	}
	if _, err := SetOffsets(ctx, cl, "logweave-sink-file", "logweave.enriched", "yesterday"); err == nil {
		t.Error("bad --to accepted")
	}
}
