package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// markedLogs is a logs request whose every record says, in its body, its
// attributes (a string, a kvlist, bytes), its submit_id (the Kafka key)
// and its ids, which request and record it is; one more record per
// request has a bad trace id and is rejected.
func markedLogs(req string, n int) *collogspb.ExportLogsServiceRequest {
	var recs []*logspb.LogRecord
	for i := 0; i < n; i++ {
		m := fmt.Sprintf("%s-rec%03d", req, i)
		id := sha256.Sum256([]byte(m))
		recs = append(recs, &logspb.LogRecord{
			TimeUnixNano: 1_799_999_000_000_000_000 + uint64(i),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: m}},
			TraceId:      id[:16],
			SpanId:       id[16:24],
			Attributes: []*commonpb.KeyValue{
				strAttr("submit_id", m),
				strAttr("marker", m),
				{Key: "nested", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
					Values: []*commonpb.KeyValue{strAttr("m", m)}}}}},
				{Key: "raw", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte(m)}}},
			},
		})
		if i == n/2 {
			recs = append(recs, &logspb.LogRecord{TraceId: []byte{1, 2, 3}, Body: recs[0].Body})
		}
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strAttr("service.name", "svc-"+req)}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}}
}

// TestIngest_ConcurrentRequestsKeepTheirOwnValues sends requests at once
// over OTLP/HTTP protobuf, OTLP/JSON and OTLP/gRPC, so that decoding
// scratches and produce buffers are reused between requests while others
// are in flight, and checks that every record in Kafka is exactly the one
// its request sent: nothing of another request in its value or key.
func TestIngest_ConcurrentRequestsKeepTheirOwnValues(t *testing.T) {
	e := newTestEnv(t, nil)
	logs := collogspb.NewLogsServiceClient(e.grpcConn())
	const senders, requests, perRequest = 4, 9, 40
	var wg sync.WaitGroup
	errs := make(chan error, senders*requests)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < requests; r++ {
				name := fmt.Sprintf("g%d-req%02d", g, r)
				req := markedLogs(name, perRequest)
				var err error
				switch r % 3 {
				case 0:
					err = postOTLP(e.url, "application/x-protobuf", mustMarshal(req))
				case 1:
					err = postOTLP(e.url, "application/json", otlpJSON(t, req))
				case 2:
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					var resp *collogspb.ExportLogsServiceResponse
					resp, err = logs.Export(ctx, req)
					cancel()
					if err == nil && resp.GetPartialSuccess().GetRejectedLogRecords() != 1 {
						err = fmt.Errorf("grpc: %d rejected, want 1", resp.GetPartialSuccess().GetRejectedLogRecords())
					}
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, rec := range e.records(senders * requests * perRequest) {
		l := decodeEnvelope(t, rec.Value).GetLog()
		m := l.GetBody()
		id := sha256.Sum256([]byte(m))
		attrs := map[string]string{}
		for _, kv := range l.GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().Text()
		}
		var nested, raw string
		for _, kv := range l.GetAttributes() {
			switch kv.GetKey() {
			case "nested":
				nested = kv.GetValue().GetKvlistValue().GetValues()[0].GetValue().GetStringValue()
			case "raw":
				raw = string(kv.GetValue().GetBytesValue())
			}
		}
		svc := l.GetService()
		switch {
		case seen[m]:
			t.Fatalf("record %q twice", m)
		case string(rec.Key) != m || l.GetSubmission().GetSubmitId() != m:
			t.Fatalf("record %q has key %q, submit_id %q", m, rec.Key, l.GetSubmission().GetSubmitId())
		case attrs["marker"] != m || nested != m || raw != m:
			t.Fatalf("record %q has marker %q, nested %q, raw %q", m, attrs["marker"], nested, raw)
		case !bytes.Equal(l.GetTraceId(), id[:16]) || !bytes.Equal(l.GetSpanId(), id[16:24]):
			t.Fatalf("record %q has ids %x %x", m, l.GetTraceId(), l.GetSpanId())
		case len(m) < 8 || svc != "svc-"+m[:8]:
			t.Fatalf("record %q has service %q", m, svc)
		}
		seen[m] = true
	}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// postOTLP posts an OTLP logs body and expects 200 with one record
// rejected (partial success).
func postOTLP(url, contentType string, body []byte) error {
	resp, err := http.Post(url+"/v1/logs", contentType, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("1 log records rejected")) {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}
