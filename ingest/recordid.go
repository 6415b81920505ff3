package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// idHasher derives record ids for the records of one request.
//
// A record's id is the first 128 bits, in hex, of SHA-256 over its kind and
// its deterministic protobuf encoding: trace and span ids, timestamps,
// service, resource, severity, body or name, attributes and submission.
// The observed time is left out when the record has an event time, so a
// client that retries a batch produces the same ids and every downstream
// write (Elasticsearch _id, Loki entry) absorbs the retry. A record without
// an event time keeps the observed time in its id: without it, two
// different lines with the same text would collapse into one.
//
// Records identical in content within one request (a loop logging the same
// line in the same nanosecond) get the occurrence number mixed in, so they
// stay distinct, and a retry of the same request reproduces the numbers.
type idHasher struct {
	h    hash.Hash
	buf  []byte
	in   []byte
	seen map[[16]byte]uint32
}

// newIDHasher returns a hasher for a request of about n records.
func newIDHasher(n int) *idHasher {
	return &idHasher{h: sha256.New(), seen: make(map[[16]byte]uint32, n)}
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// id returns the record id of env's record.
func (x *idHasher) id(env *v1.Envelope) string {
	var (
		kind byte
		msg  proto.Message
	)
	switch r := env.GetRecord().(type) {
	case *v1.Envelope_Log:
		kind, msg = 'L', r.Log
		if r.Log.GetTimeUnixNano() != 0 {
			obs := r.Log.ObservedTimeUnixNano
			r.Log.ObservedTimeUnixNano = 0
			defer func() { r.Log.ObservedTimeUnixNano = obs }()
		}
	case *v1.Envelope_Span:
		kind, msg = 'S', r.Span
	default:
		kind = '?'
	}
	var err error
	x.buf, err = deterministic.MarshalAppend(x.buf[:0], msg)
	if err != nil {
		// Only invalid UTF-8 fails here, and the receivers replace or
		// reject it before mapping; hash what we have anyway.
		x.buf = x.buf[:0]
	}
	var sum [16]byte
	x.h.Reset()
	x.h.Write([]byte{kind})
	x.h.Write(x.buf)
	copy(sum[:], x.h.Sum(x.buf[:0]))
	if n := x.seen[sum]; n > 0 {
		var occ [4]byte
		binary.BigEndian.PutUint32(occ[:], n)
		x.h.Reset()
		x.h.Write(sum[:])
		x.h.Write(occ[:])
		x.seen[sum] = n + 1
		copy(sum[:], x.h.Sum(x.buf[:0]))
	} else {
		x.seen[sum] = 1
	}
	return hex.EncodeToString(sum[:])
}

// encode gives env its record id (as id does) and appends the envelope's
// deterministic encoding to dst, byte for byte what deterministic.Marshal(env)
// gives, while marshalling the record only once: the record's encoding is
// both the id's input and the envelope's field 10 or 11. The id's input
// leaves a log's observed time out when it has an event time; in the
// deterministic encoding that field (2, fixed64) sits right after the event
// time (1, fixed64), so it is skipped by position. Anything else (an
// envelope with unknown fields, a layout not as expected) takes the
// two-marshal path.
func (x *idHasher) encode(env *v1.Envelope, dst []byte) ([]byte, error) {
	var (
		kind  byte
		msg   proto.Message
		field protowire.Number
		skip  bool // drop the observed time from the id's input
	)
	switch r := env.GetRecord().(type) {
	case *v1.Envelope_Log:
		kind, msg, field = 'L', r.Log, 10
		skip = r.Log.GetTimeUnixNano() != 0 && r.Log.GetObservedTimeUnixNano() != 0
	case *v1.Envelope_Span:
		kind, msg, field = 'S', r.Span, 11
	}
	if msg == nil || len(env.ProtoReflect().GetUnknown()) > 0 {
		env.RecordId = x.id(env)
		return deterministic.MarshalAppend(dst, env)
	}
	// The id's input, kind byte first, is built in x.buf and hashed with
	// sha256.Sum256, which (unlike a hash.Hash) keeps its buffers on the
	// stack.
	var err error
	if x.buf, err = appendRecord(append(x.buf[:0], kind), env); err != nil {
		if x.buf, err = deterministic.MarshalAppend(append(x.buf[:0], kind), msg); err != nil {
			return nil, err
		}
	}
	rec := x.buf[1:]
	const fixedField = 9 // tag byte + 8 bytes
	if skip && (len(rec) < 2*fixedField || rec[0] != 0x09 || rec[fixedField] != 0x11) {
		env.RecordId = x.id(env)
		return deterministic.MarshalAppend(dst, env)
	}
	var digest [sha256.Size]byte
	if skip {
		x.in = append(append(append(x.in[:0], kind), rec[:fixedField]...), rec[2*fixedField:]...)
		digest = sha256.Sum256(x.in)
	} else {
		digest = sha256.Sum256(x.buf)
	}
	var sum [16]byte
	copy(sum[:], digest[:])
	env.RecordId = x.finish(sum)

	out := dst
	if v := env.SchemaVersion; v != 0 {
		out = protowire.AppendTag(out, 1, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(v))
	}
	if id := env.RecordId; id != "" {
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendString(out, id)
	}
	if t := env.IngestedAtUnixNano; t != 0 {
		out = protowire.AppendTag(out, 3, protowire.Fixed64Type)
		out = protowire.AppendFixed64(out, t)
	}
	out = protowire.AppendTag(out, field, protowire.BytesType)
	out = protowire.AppendBytes(out, rec)
	return out, nil
}

// appendRecord appends the deterministic encoding of env's log or span,
// written directly (recordwire.go).
func appendRecord(b []byte, env *v1.Envelope) ([]byte, error) {
	switch r := env.GetRecord().(type) {
	case *v1.Envelope_Log:
		return appendLog(b, r.Log)
	case *v1.Envelope_Span:
		return appendSpan(b, r.Span)
	}
	return b, errRecordNeedsProto
}

// finish turns the first 128 bits of a record's hash into its id, mixing in
// the occurrence number of content seen before in the request.
func (x *idHasher) finish(sum [16]byte) string {
	if n := x.seen[sum]; n > 0 {
		var in [16 + 4]byte
		copy(in[:], sum[:])
		binary.BigEndian.PutUint32(in[16:], n)
		x.seen[sum] = n + 1
		digest := sha256.Sum256(in[:])
		copy(sum[:], digest[:])
	} else {
		x.seen[sum] = 1
	}
	return hex.EncodeToString(sum[:])
}

// recordKey is the Kafka key of a record: its submit_id, or the trace id in
// hex when it has none, or its record id when it has neither, which spreads
// such records evenly and deterministically.
func recordKey(env *v1.Envelope) string {
	var (
		sub     *v1.Submission
		traceID []byte
	)
	switch r := env.GetRecord().(type) {
	case *v1.Envelope_Log:
		sub, traceID = r.Log.GetSubmission(), r.Log.GetTraceId()
	case *v1.Envelope_Span:
		sub, traceID = r.Span.GetSubmission(), r.Span.GetTraceId()
	}
	if id := sub.GetSubmitId(); id != "" {
		return id
	}
	if len(traceID) > 0 {
		return hex.EncodeToString(traceID)
	}
	return env.GetRecordId()
}
