package ingest

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceBuf holds the Kafka records of one request: their keys and
// values in shared byte chunks, the kgo.Records in a slab. Once every
// record's promise has run, franz-go is done with them and the buffer
// goes back to the pool for a later request; a request that stopped
// waiting (produce_timeout) leaves its buffer to the garbage collector,
// since franz-go may still send those records.
type produceBuf struct {
	chunks [][]byte
	cur    int // the chunk being filled
	recs   slab[kgo.Record]
}

// valueSlabSize is the size of the chunks keys and values are copied
// into; maxPooledBytes bounds what a buffer keeps for the next request.
const (
	valueSlabSize  = 64 << 10
	maxPooledBytes = 4 << 20
)

// copyBytes copies p into the buffer; the copy's capacity is its length.
func (b *produceBuf) copyBytes(p []byte) []byte {
	c := b.room(len(p))
	start := len(*c)
	*c = append(*c, p...)
	return (*c)[start:len(*c):len(*c)]
}

// copyString is copyBytes for a string.
func (b *produceBuf) copyString(s string) []byte {
	c := b.room(len(s))
	start := len(*c)
	*c = append(*c, s...)
	return (*c)[start:len(*c):len(*c)]
}

// room returns a chunk with n bytes free.
func (b *produceBuf) room(n int) *[]byte {
	for ; b.cur < len(b.chunks); b.cur++ {
		if c := &b.chunks[b.cur]; cap(*c)-len(*c) >= n {
			return c
		}
	}
	b.chunks = append(b.chunks, make([]byte, 0, max(valueSlabSize, n)))
	b.cur = len(b.chunks) - 1
	return &b.chunks[b.cur]
}

func (b *produceBuf) reset() {
	kept := 0
	for i, c := range b.chunks {
		if kept+cap(c) > maxPooledBytes {
			clear(b.chunks[i:])
			b.chunks = b.chunks[:i]
			break
		}
		kept += cap(c)
		b.chunks[i] = c[:0]
	}
	b.cur = 0
	b.recs.reset()
}

// producePool keeps produceBufs between requests.
type producePool struct {
	p sync.Pool
	// taken counts the buffers taken back, for tests and debugging.
	taken atomic.Int64
}

func (p *producePool) get() *produceBuf {
	if b, ok := p.p.Get().(*produceBuf); ok {
		return b
	}
	return &produceBuf{}
}

// put takes back a buffer all of whose records' promises have run.
func (p *producePool) put(b *produceBuf) {
	if b == nil {
		return
	}
	b.reset()
	p.taken.Add(1)
	p.p.Put(b)
}

// bodyPool keeps request body buffers between requests.
type bodyPool struct {
	p sync.Pool
}

// maxPooledBody bounds the body buffers kept.
const maxPooledBody = 4 << 20

func (p *bodyPool) get() *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

// put takes back a body buffer whose request was answered.
func (p *bodyPool) put(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBody {
		return
	}
	*b = (*b)[:0]
	p.p.Put(b)
}
