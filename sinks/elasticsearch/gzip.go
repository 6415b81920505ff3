package elasticsearch

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// compressor gzips bulk bodies with klauspost/compress at the configured
// level (the same 1 to 9 scale as compress/gzip), reusing writers and
// output buffers across requests. The sink compresses instead of the
// client (whose CompressRequestBody uses compress/gzip): at level 1 it is
// about 1.8 times faster on a bulk body of 500 documents, for output
// within 3% of the same size (BenchmarkCompressBody).
type compressor struct {
	level   int
	writers sync.Pool // *gzip.Writer
	bufs    sync.Pool // *bytes.Buffer
}

func newCompressor(level int) (*compressor, error) {
	if _, err := gzip.NewWriterLevel(nil, level); err != nil {
		return nil, fmt.Errorf("compress_level %d: %w", level, err)
	}
	return &compressor{level: level}, nil
}

// compress returns body gzipped in a pooled buffer; give it back with
// release only once nothing can read it any more (not after sending it:
// the transport may read a request body until it closes it).
func (c *compressor) compress(body []byte) (*bytes.Buffer, error) {
	buf, _ := c.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	zw, _ := c.writers.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(buf, c.level) // level checked in newCompressor
	} else {
		zw.Reset(buf)
	}
	_, err := zw.Write(body)
	if err == nil {
		err = zw.Close()
	}
	c.writers.Put(zw)
	if err != nil {
		c.release(buf)
		return nil, fmt.Errorf("gzipping bulk body: %w", err)
	}
	return buf, nil
}

// maxPooledBuf: larger buffers (a body far above max_bulk_bytes' usual
// ratio) are left to the collector instead of being kept.
const maxPooledBuf = 8 << 20

func (c *compressor) release(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuf {
		c.bufs.Put(buf)
	}
}
