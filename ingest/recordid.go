package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

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
	seen map[[16]byte]uint32
}

func newIDHasher() *idHasher {
	return &idHasher{h: sha256.New(), seen: make(map[[16]byte]uint32)}
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
