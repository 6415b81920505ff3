package enrich

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// An undecodable raw record goes to the DLQ with every header the sinks'
// dead letters carry, record_id included (the envelope's own when it has
// one, else an id of the bytes), so reconcile and operators read both
// writers' dead letters alike.
func TestEnricher_DeadLetterCarriesRecordID(t *testing.T) {
	v := newEnv(t)
	cl := v.cluster.Client()
	key := keyFor(0)
	// A record_id and no record: decodes, but is not a record.
	noRecord, err := proto.Marshal(&v1.Envelope{RecordId: "rid"})
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte{0xff, 0xff, 0xff}
	for _, b := range [][]byte{noRecord, garbage} {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: rawTopic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	v.startEnricher(testEnrichConfig())

	rd := v.cluster.Client(kgo.ConsumeTopics(dlqTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []map[string]string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			got = append(got, h)
		})
		cancel()
	}
	if len(got) != 2 {
		t.Fatalf("%d dead letters, want 2", len(got))
	}
	wantIDs := []string{"rid", undecodableRecordID(&v1.Envelope{}, garbage)}
	for i, h := range got {
		for _, k := range []string{v1.HeaderDLQSink, v1.HeaderDLQReason, v1.HeaderDLQError, v1.HeaderDLQSourceTopic, v1.HeaderDLQSourcePartition, v1.HeaderDLQSourceOffset} {
			if h[k] == "" {
				t.Errorf("dead letter %d: header %s missing", i, k)
			}
		}
		if h[v1.HeaderDLQRecordID] != wantIDs[i] {
			t.Errorf("dead letter %d: %s = %q, want %q", i, v1.HeaderDLQRecordID, h[v1.HeaderDLQRecordID], wantIDs[i])
		}
	}
}
