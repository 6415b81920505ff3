package ingest

import (
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// wireArena hands out the attribute values of one request from slabs, a
// few allocations per request instead of three per attribute (KeyValue,
// AnyValue, oneof wrapper). Everything it hands out lives as long as any
// of it: the records of one request, which are dropped together once
// Kafka answered.
type wireArena struct {
	kvs     []v1.KeyValue
	vals    []v1.AnyValue
	strs    []v1.AnyValue_StringValue
	ints    []v1.AnyValue_IntValue
	kvPtrs  []*v1.KeyValue
	nextCap int
}

// slabCap is the size of the next slab: small for small requests, up to
// 1024 elements.
func (a *wireArena) slabCap() int {
	if a.nextCap == 0 {
		a.nextCap = 32
	}
	n := a.nextCap
	if a.nextCap < 1024 {
		a.nextCap *= 2
	}
	return n
}

func (a *wireArena) keyValue() *v1.KeyValue {
	if len(a.kvs) == cap(a.kvs) {
		a.kvs = make([]v1.KeyValue, 0, a.slabCap())
	}
	a.kvs = a.kvs[:len(a.kvs)+1]
	return &a.kvs[len(a.kvs)-1]
}

func (a *wireArena) anyValue() *v1.AnyValue {
	if len(a.vals) == cap(a.vals) {
		a.vals = make([]v1.AnyValue, 0, a.slabCap())
	}
	a.vals = a.vals[:len(a.vals)+1]
	return &a.vals[len(a.vals)-1]
}

func (a *wireArena) stringValue(s string) *v1.AnyValue_StringValue {
	if len(a.strs) == cap(a.strs) {
		a.strs = make([]v1.AnyValue_StringValue, 0, a.slabCap())
	}
	a.strs = append(a.strs, v1.AnyValue_StringValue{StringValue: s})
	return &a.strs[len(a.strs)-1]
}

func (a *wireArena) intValue(i int64) *v1.AnyValue_IntValue {
	if len(a.ints) == cap(a.ints) {
		a.ints = make([]v1.AnyValue_IntValue, 0, a.slabCap())
	}
	a.ints = append(a.ints, v1.AnyValue_IntValue{IntValue: i})
	return &a.ints[len(a.ints)-1]
}

// keyValues returns a slice of n attributes, its capacity n so that an
// append (the mapping adds an attribute now and then) copies it instead
// of writing into the next record's.
func (a *wireArena) keyValues(n int) []*v1.KeyValue {
	if cap(a.kvPtrs)-len(a.kvPtrs) < n {
		a.kvPtrs = make([]*v1.KeyValue, 0, max(n, 4*a.slabCap()))
	}
	start := len(a.kvPtrs)
	a.kvPtrs = a.kvPtrs[:start+n]
	return a.kvPtrs[start : start+n : start+n]
}

// recordSlab hands out the envelopes, records and submissions of one
// request's n records from one allocation per type, instead of five
// allocations per record. Like wireArena's values they live as long as
// any of them: the request's.
type recordSlab struct {
	n         int
	envs      []v1.Envelope
	logs      []v1.Log
	logOneofs []v1.Envelope_Log
	spans     []v1.Span
	spanOneof []v1.Envelope_Span
	subs      []v1.Submission
	seqs      []uint32
}

func newRecordSlab(n int) *recordSlab { return &recordSlab{n: n} }

// slabNext returns the next element of *slab, allocating the request's n
// elements on first use (and more, should more be asked for).
func slabNext[T any](slab *[]T, n int) *T {
	if len(*slab) == cap(*slab) {
		*slab = make([]T, 0, max(n, 1))
	}
	*slab = (*slab)[:len(*slab)+1]
	return &(*slab)[len(*slab)-1]
}

// log returns an envelope holding an empty log.
func (s *recordSlab) log() (*v1.Envelope, *v1.Log) {
	env, l, oneof := slabNext(&s.envs, s.n), slabNext(&s.logs, s.n), slabNext(&s.logOneofs, s.n)
	oneof.Log = l
	env.Record = oneof
	return env, l
}

// span returns an envelope holding an empty span.
func (s *recordSlab) span() (*v1.Envelope, *v1.Span) {
	env, sp, oneof := slabNext(&s.envs, s.n), slabNext(&s.spans, s.n), slabNext(&s.spanOneof, s.n)
	oneof.Span = sp
	env.Record = oneof
	return env, sp
}

// fillSubmission is Keys.submission into the slab.
func (s *recordSlab) fillSubmission(k *Keys, attrs *[]*v1.KeyValue, res []*v1.KeyValue) *v1.Submission {
	return k.fillSubmission(slabNext(&s.subs, s.n), slabNext(&s.seqs, s.n), attrs, res)
}
