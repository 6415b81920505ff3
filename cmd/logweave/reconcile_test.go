package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/esfake"
	"github.com/logweave/logweave/testkit/testkafka"
)

// TestReconcile_ExitStatusAndRepair runs the command on kfake and the
// Elasticsearch contract server: a document nobody wrote is missing (exit
// 1), --repair writes it (exit 0) and the next run is clean.
func TestReconcile_ExitStatusAndRepair(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(2, "logweave.enriched", "logweave.dlq"))
	srv := esfake.New()
	defer srv.Close()
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	var krs []*kgo.Record
	for i := range 4 {
		id := fmt.Sprintf("r%d", i)
		sub := &v1.Submission{SubmitId: "S9"}
		b, _ := proto.Marshal(&v1.EnrichedRecord{RecordId: id, Submission: sub, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{
			TimeUnixNano: uint64(at.UnixNano()), Body: id, Service: "judge", Submission: sub}}}})
		krs = append(krs, &kgo.Record{Topic: "logweave.enriched", Key: []byte("S9"), Value: b, Timestamp: at})
	}
	cl := c.Client()
	if err := cl.ProduceSync(context.Background(), krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The sink group committed the end: nothing is pending.
	ends, _ := kadm.NewClient(cl).ListEndOffsets(context.Background(), "logweave.enriched")
	offs := make(kadm.Offsets)
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "logweave-sink-es", offs); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "logweave.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`kafka:
  brokers: [%s]
  topics: {enriched: {partitions: 2}, raw: {partitions: 2}}
sinks:
  - name: es
    type: elasticsearch
    elasticsearch: {urls: [%s]}
`, c.Brokers()[0], srv.URL)), 0o600)
	args := []string{"reconcile", "-c", conf, "--from", at.Add(-time.Minute).Format(time.RFC3339)}

	var out, errb bytes.Buffer
	if code := run(append(args, "--json"), &out, &errb); code != 1 {
		t.Fatalf("exit %d with nothing in Elasticsearch, want 1; stderr: %s", code, errb.String())
	}
	var rep struct {
		Differences []struct {
			Submission string   `json:"submission"`
			Missing    []string `json:"missing"`
		} `json:"differences"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Differences) != 1 || rep.Differences[0].Submission != "S9" || len(rep.Differences[0].Missing) != 4 {
		t.Fatalf("--json report: %v %s", err, out.String())
	}
	out.Reset()
	if code := run(append(args, "--repair", "--settle", "5s"), &out, &errb); code != 0 {
		t.Fatalf("--repair exit %d, want 0: %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run(args, &out, &errb); code != 0 || !strings.Contains(out.String(), "exactly what") {
		t.Fatalf("after repair: exit %d:\n%s%s", code, out.String(), errb.String())
	}
	n := 0
	for _, docs := range srv.AllDocs() {
		n += len(docs)
	}
	if n != 4 {
		t.Errorf("%d documents, want 4", n)
	}
}
