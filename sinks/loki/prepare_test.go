package loki

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
)

// prepare renders every entry as Write did record by record: the same
// line, labels, metadata and size, also when its buffers are reused from
// an earlier batch (released), larger or smaller, with other streams.
func TestPrepare_MatchesOneByOne(t *testing.T) {
	s := &Sink{cfg: Default()}
	batch := []*sinks.Record{record(0, "first", ""), record(1, "second line", "t1"), record(2, "", ""), record(3, "x=y \"q\"", "")}
	batch[2].Dest.Labels = nil
	var large []*sinks.Record
	for i := range 300 {
		r := record(i, fmt.Sprintf("line %d of the large batch", i), "")
		if i%3 == 0 {
			r.Dest.Labels = nil
		}
		large = append(large, r)
	}
	for _, b := range [][]*sinks.Record{batch, large, batch, large[:7], batch} {
		p := s.prepare(b)
		checkPrepared(t, b, p.entries)
		s.release(p)
	}
}

func checkPrepared(t *testing.T, batch []*sinks.Record, entries []entry) {
	t.Helper()
	if len(entries) != len(batch) {
		t.Fatalf("%d entries for %d records", len(entries), len(batch))
	}
	for i, e := range entries {
		r := batch[i]
		if want := string(appendLine(nil, r.Enriched)); e.e.Line != want {
			t.Errorf("record %d: line %q, want %q", i, e.e.Line, want)
		}
		if want := labelString(r); e.labels != want {
			t.Errorf("record %d: labels %q, want %q", i, e.labels, want)
		}
		if len(e.e.StructuredMetadata) != len(r.Dest.Metadata) {
			t.Fatalf("record %d: %d metadata, want %d", i, len(e.e.StructuredMetadata), len(r.Dest.Metadata))
		}
		for j, md := range r.Dest.Metadata {
			if got := e.e.StructuredMetadata[j]; got.Name != md.Name || got.Value != md.Value {
				t.Errorf("record %d metadata %d: %+v, want %+v", i, j, got, md)
			}
		}
		if e.i != i || e.id != r.Enriched.GetRecordId() || e.size != len(e.e.Line)+len(e.labels) {
			t.Errorf("record %d: i %d id %q size %d", i, e.i, e.id, e.size)
		}
		if wantTenant := r.Dest.Tenant; wantTenant != "" && e.tenant != wantTenant {
			t.Errorf("record %d: tenant %q, want %q", i, e.tenant, wantTenant)
		}
	}
}

// Push buffers are reused across pushes: a small push after a large one
// encodes to the same bytes as in fresh buffers, and entries come out per
// stream, sorted by time, equal times in batch order.
func TestPushBuffers_ReusedEncodeSameBody(t *testing.T) {
	s := &Sink{cfg: Default()}
	var large []*sinks.Record
	for i := range 300 {
		large = append(large, record(i, fmt.Sprintf("line %d", i), ""))
	}
	small := []*sinks.Record{record(5, "b", ""), record(5, "a", ""), record(7, "c", ""), record(1, "d", "")}
	small[3].Dest.Labels = nil // a second stream
	var bufs pushBuffers
	if _, err := bufs.encode(s.prepare(large).entries); err != nil {
		t.Fatal(err)
	}
	got, err := bufs.encode(s.prepare(small).entries)
	if err != nil {
		t.Fatal(err)
	}
	want, err := buildRequest(s.prepare(small).entries)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("reused buffers encode %d bytes, fresh ones %d: different bodies", len(got), len(want))
	}
	raw, err := s2.Decode(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	// record(i) is timed 1.8e18 - i*1000: record 7 first, then the two
	// record 5s in batch order; the unlabelled record is its own stream.
	if len(req.Streams) != 2 || len(req.Streams[0].Entries)+len(req.Streams[1].Entries) != 4 {
		t.Fatalf("%d streams: %+v", len(req.Streams), req.Streams)
	}
	main := req.Streams[0]
	if main.Labels == `{service="unknown_service"}` {
		main = req.Streams[1]
	}
	var order []string
	for _, e := range main.Entries {
		order = append(order, e.Line)
	}
	if len(order) != 3 || !strings.HasPrefix(order[0], "msg=c") || !strings.HasPrefix(order[1], "msg=b") || !strings.HasPrefix(order[2], "msg=a") {
		t.Errorf("entries of the labelled stream in order %q, want c, b, a (by time, equal times in batch order)", order)
	}
}

// kvAttrOld is the attribute rendering kvAttr replaced.
func kvAttrOld(b []byte, a *v1.KeyValue) []byte {
	return kv(b, sanitizeKey(a.GetKey()), a.GetValue().Text())
}

func attrCases() []*v1.KeyValue {
	val := func(v *v1.AnyValue) *v1.AnyValue { return v }
	return []*v1.KeyValue{
		{Key: "plain", Value: val(&v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "ok"}})},
		{Key: "http.status-code", Value: val(&v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: -404}})},
		{Key: "ключ", Value: val(&v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "a b \"c\" \\ ="}})},
		{Key: "bad\xffkey", Value: val(&v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "bad\xffvalue"}})},
		{Key: "f", Value: val(&v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: 1.5e-7}})},
		{Key: "b", Value: val(&v1.AnyValue{Value: &v1.AnyValue_BoolValue{BoolValue: true}})},
		{Key: "bytes", Value: val(&v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2, 250}}})},
		{Key: "arr", Value: val(&v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{Values: []*v1.AnyValue{{Value: &v1.AnyValue_StringValue{StringValue: "x y"}}}}}})},
		{Key: "empty", Value: val(&v1.AnyValue{Value: &v1.AnyValue_StringValue{}})},
		{Key: "nil"},
		{Key: "", Value: val(&v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "no key"}})},
	}
}

// TestKVAttr_MatchesOld renders every attribute kind after an empty and a
// non-empty line, as the old sanitizeKey + Text + kv did.
func TestKVAttr_MatchesOld(t *testing.T) {
	for _, a := range attrCases() {
		for _, prefix := range []string{"", "msg=hello"} {
			got := string(kvAttr([]byte(prefix), a))
			want := string(kvAttrOld([]byte(prefix), a))
			if got != want {
				t.Errorf("%q after %q: got %q, want %q", a.GetKey(), prefix, got, want)
			}
		}
	}
}

func FuzzKVAttr(f *testing.F) {
	f.Add("k.e-y", "v a\"l", int64(7), 0.5, uint8(0))
	f.Add("ключ\xff", "\xff", int64(-1), math.Copysign(0, -1), uint8(1))
	f.Fuzz(func(t *testing.T, key, s string, n int64, d float64, kind uint8) {
		var v *v1.AnyValue
		switch kind % 5 {
		case 0:
			v = &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: s}}
		case 1:
			v = &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: n}}
		case 2:
			v = &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: d}}
		case 3:
			v = &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte(s)}}
		}
		a := &v1.KeyValue{Key: key, Value: v}
		for _, prefix := range []string{"", "msg=x"} {
			if got, want := string(kvAttr([]byte(prefix), a)), string(kvAttrOld([]byte(prefix), a)); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	})
}
