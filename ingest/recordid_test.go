package ingest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// TestIDHasher_EncodeMatchesTwoMarshals checks that the one-marshal path
// gives every record the id and the envelope bytes of the reference path
// (id over the record's own deterministic encoding, then the envelope
// marshalled again): record ids are the dedup identity downstream and must
// not change with this optimisation.
func TestIDHasher_EncodeMatchesTwoMarshals(t *testing.T) {
	s := &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	var envs []*v1.Envelope
	add := func(e []*v1.Envelope, _ []int, rejs []rejection) {
		t.Helper()
		if len(rejs) != 0 {
			t.Fatalf("rejections: %v", rejs)
		}
		envs = append(envs, e...)
	}
	add(s.logsToEnvelopes(wireLogs(t, logsRequest()), 1_799_999_500_000_000_000, nil))
	add(s.logsToEnvelopes(wireLogs(t, benchLogsRequest()), 1_799_999_500_000_000_000, nil))
	add(s.tracesToEnvelopes(wireTraces(t, tracesRequest()), nil))
	// Same content twice in one request: the occurrence number is mixed in.
	add(s.logsToEnvelopes(wireLogs(t, logsRequest()), 1_799_999_500_000_000_000, nil))
	// Without event time (observed time stays in the id), without observed
	// time, and with neither.
	noTime := logsRequest()
	for _, lr := range noTime.ResourceLogs[0].ScopeLogs[0].LogRecords {
		lr.TimeUnixNano = 0
	}
	add(s.logsToEnvelopes(wireLogs(t, noTime), 1_799_999_500_000_000_000, nil))
	add(s.logsToEnvelopes(wireLogs(t, logsRequest()), 0, nil))
	add(s.logsToEnvelopes(wireLogs(t, noTime), 0, nil))
	add(s.logsToEnvelopes(wireLogs(t, &collogspb.ExportLogsServiceRequest{}), 0, nil))
	lines := []byte("{\"level\":\"info\",\"ts\":1799999000.5,\"msg\":\"hello\",\"submit_id\":\"S1\"}\n{\"msg\":\"no time\"}\n")
	add(s.parseNDJSON(lines, 1_799_999_500_000_000_000))
	if len(envs) < 500 {
		t.Fatalf("only %d envelopes", len(envs))
	}

	fast, ref := newIDHasher(0), newIDHasher(0)
	for i, env := range envs {
		env.SchemaVersion = v1.SchemaVersion
		env.IngestedAtUnixNano = 1_800_000_000_000_000_000
		want := proto.Clone(env).(*v1.Envelope)
		want.RecordId = ref.id(want)
		wantBytes, err := deterministic.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fast.encode(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		if env.RecordId != want.RecordId {
			t.Fatalf("record %d: id %s, reference %s", i, env.RecordId, want.RecordId)
		}
		if !bytes.Equal(got, wantBytes) {
			t.Fatalf("record %d: envelope encoding differs from deterministic.Marshal:\n%x\n%x", i, got, wantBytes)
		}
	}
}

// TestIDHasher_StableIDs pins record ids of known content: they must stay
// the same across versions (replays, Elasticsearch _id).
func TestIDHasher_StableIDs(t *testing.T) {
	s := &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	envs, _, _ := s.logsToEnvelopes(wireLogs(t, logsRequest()), 1_799_999_500_000_000_000, nil)
	spans, _, _ := s.tracesToEnvelopes(wireTraces(t, tracesRequest()), nil)
	x := newIDHasher(0)
	var got []string
	for _, env := range append(envs, spans...) {
		if _, err := x.encode(env, nil); err != nil {
			t.Fatal(err)
		}
		got = append(got, env.RecordId)
	}
	want := fmt.Sprint(stableIDs)
	if fmt.Sprint(got) != want {
		t.Fatalf("record ids changed:\n got %v\nwant %v", got, want)
	}
}

// stableIDs were computed by the two-marshal code before the one-marshal path.
var stableIDs = []string{"137bb1625353f1c32c348f0f64829123", "e89ed8c983ca4ccc6a7abef39f48f5e7", "8b65f01db8d19ce9386fc1ac956c7af5", "1872f5bd0227bb3472db0e2bb4f88c06"}
