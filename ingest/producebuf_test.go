package ingest

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"
)

// holdProduces makes the broker hold every Produce request until the test
// ends: records sent are in flight at franz-go, their promises not run,
// after the request gave up waiting. (A closed broker would not do: the
// records were never sent, and franz-go fails them all the moment the
// request's deadline passes, so their promises may all run first.)
func holdProduces(t *testing.T, e *testEnv) {
	t.Helper()
	release := make(chan struct{})
	e.cluster.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		e.cluster.SleepControl(func() { <-release })
		return nil, nil, false
	})
	t.Cleanup(func() { close(release) })
}

// TestProduceBuf_CopiesAndReuse checks that copies are distinct, capped
// and intact while the buffer is in use, that a reset buffer reuses its
// chunks, and that it keeps at most maxPooledBytes.
func TestProduceBuf_CopiesAndReuse(t *testing.T) {
	var b produceBuf
	var copies [][]byte
	var want [][]byte
	for i, n := range []int{0, 10, valueSlabSize - 20, 100, 3 * valueSlabSize, 5} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		c := b.copyBytes(p)
		if cap(c) != len(c) {
			t.Fatalf("copy of %d bytes has capacity %d", n, cap(c))
		}
		copies, want = append(copies, c), append(want, p)
	}
	k := b.copyString("S1")
	for i := range copies {
		if !bytes.Equal(copies[i], want[i]) {
			t.Fatalf("copy %d changed by later copies", i)
		}
	}
	if string(k) != "S1" {
		t.Fatalf("key copy %q", k)
	}
	chunks := len(b.chunks)
	b.reset()
	if len(b.chunks) != chunks || b.cur != 0 || len(b.chunks[0]) != 0 {
		t.Fatalf("reset kept %d of %d chunks, cur %d", len(b.chunks), chunks, b.cur)
	}
	first := &b.chunks[0][:1][0]
	if c := b.copyBytes([]byte("x")); &c[0] != first {
		t.Fatal("a reset buffer did not reuse its first chunk")
	}
	for i := 0; i < 2*maxPooledBytes/valueSlabSize; i++ {
		b.copyBytes(make([]byte, valueSlabSize))
	}
	b.reset()
	kept := 0
	for _, c := range b.chunks {
		kept += cap(c)
	}
	if kept > maxPooledBytes {
		t.Fatalf("reset kept %d bytes, more than %d", kept, maxPooledBytes)
	}
}

// TestProduce_BufferReusedOnlyAfterEveryPromise checks that a request's
// produce buffer goes back to the pool when Kafka answered every record,
// and not when the request stopped waiting (franz-go may still send its
// records then).
func TestProduce_BufferReusedOnlyAfterEveryPromise(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.ProduceTimeout = 1500 * time.Millisecond })
	body, err := proto.Marshal(logsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, resp := e.post("/v1/logs", "application/x-protobuf", body, nil); code != http.StatusOK {
		t.Fatalf("status %d: %s", code, resp)
	}
	if n := e.srv.produceBufs.taken.Load(); n != 1 {
		t.Fatalf("%d buffers taken back after an acknowledged request, want 1", n)
	}
	holdProduces(t, e)
	if code, _, resp := e.post("/v1/logs", "application/x-protobuf", body, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d with the broker not answering: %s", code, resp)
	}
	if n := e.srv.produceBufs.taken.Load(); n != 1 {
		t.Fatalf("%d buffers taken back after a request that timed out, want still 1", n)
	}
}

// TestIngest_NothingKeptPointsIntoTheBody checks what lets body buffers be
// reused once a request is answered: the records franz-go still holds
// after a request gave up waiting (broker not answering, 503) do not point into the
// request body. It overwrites the body after the answer and compares the
// held keys and values with those of an untouched copy.
func TestIngest_NothingKeptPointsIntoTheBody(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.ProduceTimeout = 1500 * time.Millisecond })
	body, err := proto.Marshal(everyKindLogs())
	if err != nil {
		t.Fatal(err)
	}
	pristine := bytes.Clone(body)
	prepared := func(body []byte) []outRecord {
		t.Helper()
		req, _, err := decodeLogs(body, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		envs, pos, rejs := e.srv.logsToEnvelopes(req, 1, nil)
		recs, _ := e.srv.prepare(envs, pos, rejs)
		if len(recs) < 3 {
			t.Fatalf("only %d records", len(recs))
		}
		return recs
	}
	want := prepared(pristine)

	holdProduces(t, e)
	recs := prepared(body)
	if herr := e.srv.produce(recs); herr == nil || herr.status != http.StatusServiceUnavailable {
		t.Fatalf("produce with the broker not answering: %v, want 503", herr)
	}
	for i := range body {
		body[i] = 0xAA
	}
	held := recs[0].buf.recs.s
	if len(held) != len(want) {
		t.Fatalf("franz-go holds %d records, want %d", len(held), len(want))
	}
	for i := range held {
		// Only Key and Value: franz-go still writes the records' other
		// fields (partition, timestamp) when it fails them later.
		r := &held[i]
		if string(r.Key) != want[i].key || !bytes.Equal(r.Value, want[i].value) {
			t.Fatalf("record %d changed with the body: key %q value %x, want %q %x", i, r.Key, r.Value, want[i].key, want[i].value)
		}
	}
}
