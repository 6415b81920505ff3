package sinks

import (
	"google.golang.org/protobuf/encoding/protowire"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// decodeSlot is one record's decoded form, kept by a worker and reused by
// its next batch: the nested messages a record usually has (the envelope,
// its log or span, the span context, submission, sampling, source, the
// log's resource and submission) and the log's attribute slice are the
// slot's own, so the generated decoder fills them instead of allocating
// new ones (about half of a sink's allocations per record).
//
// A slot's record is valid until the worker decodes its next batch: the
// runtime hands it to the sink for one batch only (Record.Enriched), and
// whatever is kept past that is cloned.
type decodeSlot struct {
	rec    v1.EnrichedRecord
	env    v1.Envelope
	logW   v1.Envelope_Log
	spanW  v1.Envelope_Span
	log    v1.Log
	span   v1.Span
	res    v1.Resource
	logSub v1.Submission
	ctx    v1.SpanContext
	sub    v1.Submission
	samp   v1.Sampling
	src    v1.SourcePosition
	attrs  []*v1.KeyValue
}

// Field numbers the slot primes (schemas/logweave/v1/*.proto).
const (
	enrichedRecord     = 3
	enrichedSpan       = 4
	enrichedSubmission = 5
	enrichedSampling   = 6
	enrichedSource     = 7
	envelopeLog        = 10
	envelopeSpan       = 11
	logResource        = 9
	logAttributes      = 11
	logSubmission      = 12
)

// decode decodes b into the slot's record, as v1.UnmarshalUnsafe would into
// a fresh one (same verdict, same message: TestDecodeSlot_MatchesFreshDecode,
// FuzzDecodeSlot).
//
// Which nested messages are present is read from the wire first: a
// message is primed (set to the slot's reset copy) only where the wire
// has it, so one absent stays nil as in a fresh decode, and the decoder
// merges into the primed message exactly as into the one it would have
// allocated. Anything unusual (a malformed top level, a message field
// repeated) primes nothing below it.
func (s *decodeSlot) decode(b []byte) (*v1.EnrichedRecord, error) {
	rec := &s.rec
	// What the slot's previous record kept in its attribute slice beyond
	// the new record's would pin the previous batch's buffers.
	clear(s.attrs[:cap(s.attrs)])
	rec.Reset()
	top, env, ok := fieldsOf(b, enrichedRecord)
	if ok {
		if top.has(enrichedRecord) {
			s.env.Reset()
			rec.Record = &s.env
			if top.once(enrichedRecord) {
				s.primeEnvelope(env)
			}
		}
		if top.has(enrichedSpan) {
			s.ctx.Reset()
			rec.Span = &s.ctx
		}
		if top.has(enrichedSubmission) {
			s.sub.Reset()
			rec.Submission = &s.sub
		}
		if top.has(enrichedSampling) {
			s.samp.Reset()
			rec.Sampling = &s.samp
		}
		if top.has(enrichedSource) {
			s.src.Reset()
			rec.Source = &s.src
		}
	}
	if err := v1.UnmarshalUnsafe(b, rec); err != nil {
		return nil, err
	}
	// Keep a grown attribute slice for the next record; a log without
	// attributes has none (nil), as a fresh decode gives.
	if l := rec.GetRecord().GetLog(); l == &s.log {
		if cap(l.Attributes) > cap(s.attrs) {
			s.attrs = l.Attributes[:0]
		}
		if len(l.Attributes) == 0 {
			l.Attributes = nil
		}
	}
	return rec, nil
}

// primeEnvelope primes the envelope's log or span from its wire form.
func (s *decodeSlot) primeEnvelope(b []byte) {
	f, lb, ok := fieldsOf(b, envelopeLog)
	if !ok {
		return
	}
	switch {
	case f.has(envelopeLog) && !f.has(envelopeSpan):
		s.log.Reset()
		s.logW.Log = &s.log
		s.env.Record = &s.logW
		if f.once(envelopeLog) {
			s.primeLog(lb)
		}
	case f.has(envelopeSpan) && !f.has(envelopeLog):
		s.span.Reset()
		s.spanW.Span = &s.span
		s.env.Record = &s.spanW
	}
}

// primeLog primes the log's resource, submission and attribute slice.
func (s *decodeSlot) primeLog(b []byte) {
	f, _, ok := fieldsOf(b, 0)
	if !ok {
		return
	}
	if f.has(logResource) {
		s.res.Reset()
		s.log.Resource = &s.res
	}
	if f.has(logSubmission) {
		s.logSub.Reset()
		s.log.Submission = &s.logSub
	}
	if f.has(logAttributes) {
		s.log.Attributes = s.attrs[:0]
	}
}

// wireFields says which length-delimited fields below 64 a message's wire
// form has, and which of them more than once.
type wireFields struct{ seen, repeated uint64 }

func (f wireFields) has(num int) bool { return f.seen&(1<<num) != 0 }

// once says whether the wire has field num exactly once.
func (f wireFields) once(num int) bool { return f.seen&^f.repeated&(1<<num) != 0 }

// fieldsOf walks a message's top-level fields and returns them with the
// value of field want (its last occurrence); false if b is not a
// well-formed message (then nothing is primed and the decoder decides).
// One-byte tags and lengths, nearly all of them here, take a short path.
func fieldsOf(b []byte, want int) (wireFields, []byte, bool) {
	var (
		f   wireFields
		val []byte
	)
	for len(b) > 0 {
		var (
			num protowire.Number
			typ protowire.Type
		)
		if b[0] < 0x80 {
			num, typ, b = protowire.Number(b[0]>>3), protowire.Type(b[0]&7), b[1:]
		} else {
			n, t, l := protowire.ConsumeTag(b)
			if l < 0 {
				return f, nil, false
			}
			num, typ, b = n, t, b[l:]
		}
		if typ != protowire.BytesType {
			l := protowire.ConsumeFieldValue(num, typ, b)
			if l < 0 {
				return f, nil, false
			}
			b = b[l:]
			continue
		}
		var size uint64
		if len(b) > 0 && b[0] < 0x80 {
			size, b = uint64(b[0]), b[1:]
		} else {
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return f, nil, false
			}
			size, b = v, b[l:]
		}
		if size > uint64(len(b)) {
			return f, nil, false
		}
		if num < 64 {
			bit := uint64(1) << num
			f.repeated |= f.seen & bit
			f.seen |= bit
		}
		if int(num) == want {
			val = b[:size]
		}
		b = b[size:]
	}
	return f, val, true
}
