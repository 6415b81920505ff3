package logweavev1

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// Records logweave writes take the fast path; the fallback is for the
// malformed and the adversarial.
func TestCheckWire_PassesWhatLogweaveWrites(t *testing.T) {
	seq := uint32(3)
	rec := &EnrichedRecord{RecordId: "r", Submission: &Submission{SubmitId: "S1", SubmissionSeq: &seq},
		Record: &Envelope{Record: &Envelope_Log{Log: &Log{Body: "héllo", Attributes: []*KeyValue{
			{Key: "k", Value: &AnyValue{Value: &AnyValue_KvlistValue{KvlistValue: &KeyValueList{Values: []*KeyValue{{Key: "n", Value: &AnyValue{Value: &AnyValue_StringValue{StringValue: "v"}}}}}}}},
		}}}}}
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !checkWire(b, tableOf(rec.ProtoReflect().Descriptor()), 0) {
		t.Fatal("checkWire refused a record logweave wrote")
	}
	bad := append([]byte{}, b...)
	for i := range len(bad) - 1 {
		if string(bad[i:i+2]) == "é" {
			bad[i+1] = 0xff // é's continuation byte
		}
	}
	if checkWire(bad, tableOf(rec.ProtoReflect().Descriptor()), 0) {
		t.Fatal("checkWire passed invalid UTF-8 in the log body")
	}
}
