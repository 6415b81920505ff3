package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"testing"
)

// bulkBody is a bulk body of n documents.
func bulkBody(n int) []byte {
	s := &Sink{cfg: Default()}
	var body []byte
	for _, r := range records(n, "b") {
		body = s.appendItem(body, r)
	}
	return body
}

// BenchmarkCompressBody gzips a 500-document bulk body at level 1, the
// sink's compressor against compress/gzip (what the client's
// CompressRequestBody used); ratio is uncompressed/compressed.
func BenchmarkCompressBody(b *testing.B) {
	body := bulkBody(500)
	b.Run("klauspost", func(b *testing.B) {
		c, err := newCompressor(1)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var n int
		for b.Loop() {
			buf, err := c.compress(body)
			if err != nil {
				b.Fatal(err)
			}
			n = buf.Len()
			c.release(buf)
		}
		b.ReportMetric(float64(len(body))/float64(n), "ratio")
	})
	b.Run("stdlib", func(b *testing.B) {
		var buf bytes.Buffer
		zw, _ := stdgzip.NewWriterLevel(&buf, 1)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			zw.Reset(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
		}
		b.ReportMetric(float64(len(body))/float64(buf.Len()), "ratio")
	})
}

func TestCompressor_RoundTripsWithReusedBuffers(t *testing.T) {
	c, err := newCompressor(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{500, 1, 37, 500} { // a large body, then smaller ones in its reused buffer
		body := bulkBody(n)
		buf, err := c.compress(body)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := stdgzip.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%d documents: %v", n, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d documents: gunzipped %d bytes (err %v), want the %d-byte body", n, len(got), err, len(body))
		}
		c.release(buf)
	}
}

func TestNewCompressor_RejectsBadLevel(t *testing.T) {
	if _, err := newCompressor(12); err == nil {
		t.Error("level 12 accepted")
	}
}
