package ingest

import (
	"sync"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// The values of one OTLP request (attributes, envelopes, records) come
// from slabs, a few allocations per request instead of several per
// record, and the slabs are reused by later requests once a request is
// answered: nothing keeps a request's decoded values after its answer
// (Kafka gets copies of the encoded values and keys), so a reset clears
// them and hands the memory to the next request. Pointer-holding structs
// are most of ingest's allocated bytes and all of its garbage collector's
// scanning.

// slab hands out Ts from chunks.
type slab[T any] struct {
	s     []T
	total int // handed out since the last reset, over every chunk
}

// firstChunk is the size of a slab's first chunk; later ones double.
const firstChunk = 64

// maxPooledSlab bounds what a reset keeps for the next request: a slab
// grown past it by one huge request is dropped rather than held.
const maxPooledSlab = 1 << 16

func (p *slab[T]) next() *T {
	if len(p.s) == cap(p.s) {
		p.s = make([]T, 0, max(firstChunk, 2*cap(p.s)))
	}
	p.s = p.s[:len(p.s)+1]
	p.total++
	return &p.s[len(p.s)-1]
}

// take returns n consecutive elements, its capacity n so that an append
// to it copies rather than writing into the next owner's elements.
func (p *slab[T]) take(n int) []T {
	if cap(p.s)-len(p.s) < n {
		p.s = make([]T, 0, max(n, firstChunk, 2*cap(p.s)))
	}
	start := len(p.s)
	p.s = p.s[:start+n]
	p.total += n
	return p.s[start : start+n : start+n]
}

// reset forgets everything handed out. The chunk in use is cleared for
// reuse, or replaced by one chunk of what the request needed in all when
// it took several (so that a steady stream of requests allocates nothing).
func (p *slab[T]) reset() {
	switch {
	case p.total > maxPooledSlab:
		p.s = nil
	case p.total > cap(p.s):
		p.s = make([]T, 0, p.total)
	default:
		clear(p.s)
		p.s = p.s[:0]
	}
	p.total = 0
}

// wireArena hands out the attribute values the wire decoder makes.
type wireArena struct {
	kvs    slab[v1.KeyValue]
	vals   slab[v1.AnyValue]
	strs   slab[v1.AnyValue_StringValue]
	ints   slab[v1.AnyValue_IntValue]
	kvPtrs slab[*v1.KeyValue]
}

func (a *wireArena) keyValue() *v1.KeyValue { return a.kvs.next() }

func (a *wireArena) anyValue() *v1.AnyValue { return a.vals.next() }

func (a *wireArena) stringValue(s string) *v1.AnyValue_StringValue {
	v := a.strs.next()
	v.StringValue = s
	return v
}

func (a *wireArena) intValue(i int64) *v1.AnyValue_IntValue {
	v := a.ints.next()
	v.IntValue = i
	return v
}

// keyValues returns a list of n attributes (capacity n: the mapping's
// appends copy it).
func (a *wireArena) keyValues(n int) []*v1.KeyValue { return a.kvPtrs.take(n) }

func (a *wireArena) reset() {
	a.kvs.reset()
	a.vals.reset()
	a.strs.reset()
	a.ints.reset()
	a.kvPtrs.reset()
}

// recordSlab hands out the envelopes, records and submissions the mapping
// makes.
type recordSlab struct {
	envs      slab[v1.Envelope]
	logs      slab[v1.Log]
	logOneofs slab[v1.Envelope_Log]
	spans     slab[v1.Span]
	spanOneof slab[v1.Envelope_Span]
	subs      slab[v1.Submission]
	seqs      slab[uint32]
}

// log returns an envelope holding an empty log.
func (s *recordSlab) log() (*v1.Envelope, *v1.Log) {
	env, l, oneof := s.envs.next(), s.logs.next(), s.logOneofs.next()
	oneof.Log = l
	env.Record = oneof
	return env, l
}

// span returns an envelope holding an empty span.
func (s *recordSlab) span() (*v1.Envelope, *v1.Span) {
	env, sp, oneof := s.envs.next(), s.spans.next(), s.spanOneof.next()
	oneof.Span = sp
	env.Record = oneof
	return env, sp
}

// fillSubmission is Keys.submission into the slab.
func (s *recordSlab) fillSubmission(k *Keys, attrs *[]*v1.KeyValue, res []*v1.KeyValue) *v1.Submission {
	return k.fillSubmission(s.subs.next(), s.seqs.next(), attrs, res)
}

func (s *recordSlab) reset() {
	s.envs.reset()
	s.logs.reset()
	s.logOneofs.reset()
	s.spans.reset()
	s.spanOneof.reset()
	s.subs.reset()
	s.seqs.reset()
}

// requestScratch is everything one OTLP request's decoding and mapping
// allocates from.
type requestScratch struct {
	arena   wireArena
	records recordSlab
	// attrs is the wire decoder's stack of attributes being decoded.
	attrs []*v1.KeyValue
	// logRecords and spans hold the request's records, each resource's
	// a part of them.
	logRecords []otlpLogRecord
	spans      []otlpSpan
}

// scratchPool keeps requestScratches between requests.
type scratchPool struct {
	p sync.Pool
}

// get returns a scratch to decode a request with; the pool may be nil.
func (p *scratchPool) get() *requestScratch {
	if p != nil {
		if sc, ok := p.p.Get().(*requestScratch); ok {
			return sc
		}
	}
	return &requestScratch{}
}

// put takes back a scratch whose request was answered: no value decoded
// or mapped from it may be used afterwards.
func (p *scratchPool) put(sc *requestScratch) {
	if p == nil || sc == nil {
		return
	}
	sc.arena.reset()
	sc.records.reset()
	clear(sc.attrs)
	sc.attrs = sc.attrs[:0]
	if cap(sc.logRecords) > maxPooledSlab {
		sc.logRecords = nil
	}
	clear(sc.logRecords)
	sc.logRecords = sc.logRecords[:0]
	if cap(sc.spans) > maxPooledSlab {
		sc.spans = nil
	}
	clear(sc.spans)
	sc.spans = sc.spans[:0]
	p.p.Put(sc)
}
