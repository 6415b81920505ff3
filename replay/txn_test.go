package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/esfake"
	"github.com/logweave/logweave/testkit/testkafka"
)

// setupTxn writes 40 records as the enricher does: in four transactions,
// so every partition holds commit markers inside and at the end of the
// window. (Markers carry the time they are written, so the records do too:
// a time window is then found as on a real topic.)
func setupTxn(t *testing.T) []kgo.Opt {
	t.Helper()
	c := testkafka.Start(t, kfake.SeedTopics(3, "logweave.enriched", "logweave.dlq"))
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("replay-test"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for txn := 0; txn < 4; txn++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := txn * 10; i < txn*10+10; i++ {
			id := fmt.Sprintf("window-%02d", i)
			b, _ := proto.Marshal(&v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{
				TimeUnixNano: uint64(t0.UnixNano()), Body: id, Service: "judge"}}}})
			recs = append(recs, &kgo.Record{Topic: "logweave.enriched", Partition: int32(i % 3), Value: b})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	return []kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}
}

// A replay of a transactional topic finishes at 100%: the window's offsets
// include the commit markers, which the progress and the report count as
// done once the job committed past them. Before, progress counted records
// against offsets and stopped at 40 of 52 (76.9%; the job then ended on
// 3s of silence).
func TestReplay_TransactionalWindowReaches100Percent(t *testing.T) {
	base := setupTxn(t)
	srv := esfake.New()
	defer srv.Close()
	o := options(t, srv, base, "txn")
	o.From, o.To = time.Time{}, time.Time{} // the whole topic as it is now
	var out bytes.Buffer
	o.Progress = &out
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Docs("replay-idx")); n != 40 || rep.Delivered != 40 {
		t.Fatalf("%d documents, %v delivered; want the 40 of the window (%s)", n, rep.Delivered, rep)
	}
	// 40 records and one marker per transaction per partition.
	if rep.Window != 52 {
		t.Errorf("window of %d offsets, want 52: %s", rep.Window, rep)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "(100.0%)") {
		t.Errorf("last progress line %q is not at 100%%", last)
	}
	if rep.Done != rep.Window || !strings.Contains(rep.String(), "52 of 52 offsets in the window (100.0%)") {
		t.Errorf("report not complete: %s", rep)
	}
}
