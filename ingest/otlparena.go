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
