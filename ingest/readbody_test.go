package ingest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBody_SizesAndLimits reads bodies of every size relation to the
// buffer readBody sizes up front (Content-Length, four times it for gzip,
// unknown length) and to max_body_bytes, and checks the bytes and verdicts.
func TestReadBody_SizesAndLimits(t *testing.T) {
	const limit = 1 << 16
	s := &Server{cfg: Default()}
	s.cfg.MaxBodyBytes = limit
	body := func(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n] }
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b) //nolint:errcheck // bytes.Buffer
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name       string
		raw        []byte // what the handler must see
		wire       []byte
		gzip       bool
		unknownLen bool
		status     int
	}{
		{name: "empty", raw: nil, wire: nil},
		{name: "small", raw: body(100), wire: body(100)},
		{name: "at the limit", raw: body(limit), wire: body(limit)},
		{name: "unknown length", raw: body(5000), wire: body(5000), unknownLen: true},
		{name: "unknown length over the limit", wire: body(limit + 1), unknownLen: true, status: http.StatusRequestEntityTooLarge},
		{name: "gzip more than four times smaller", raw: body(limit), wire: gz(body(limit)), gzip: true},
		{name: "gzip of random-ish bytes", raw: []byte(strings.Repeat("x\x00y", 300)), wire: gz([]byte(strings.Repeat("x\x00y", 300))), gzip: true},
		{name: "gzip over the limit", wire: gz(body(limit + 1)), gzip: true, status: http.StatusRequestEntityTooLarge},
		{name: "over the limit", wire: body(limit + 1), status: http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tc.wire)
			if tc.unknownLen {
				r = io.MultiReader(r) // hides the length from httptest
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", r)
			if tc.gzip {
				req.Header.Set("Content-Encoding", "gzip")
			}
			if tc.unknownLen && req.ContentLength != -1 {
				t.Fatalf("content length %d, want unknown", req.ContentLength)
			}
			got, herr := s.readBody(req, nil)
			if tc.status != 0 {
				if herr == nil || herr.status != tc.status {
					t.Fatalf("error %v, want status %d", herr, tc.status)
				}
				return
			}
			if herr != nil {
				t.Fatal(herr)
			}
			if !bytes.Equal(got, tc.raw) {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.raw))
			}
		})
	}
}

// TestReadBody_DeclaredLengthIsNotAllocatedUpFront sends a request that
// declares a body of max_body_bytes and then ends without one (a client
// that hung up or stalls until the read timeout): the buffer allocated for
// it must not follow the declared length, or every such connection holds
// max_body_bytes of heap (and a max_body_bytes larger than the machine's
// memory lets one request header end the process with a fatal
// out-of-memory, which no recover catches).
func TestReadBody_DeclaredLengthIsNotAllocatedUpFront(t *testing.T) {
	const limit = 128 << 20
	s := &Server{cfg: Default()}
	s.cfg.MaxBodyBytes = limit
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("x")) //nolint:errcheck // bytes.Buffer
	zw.Close()
	for _, enc := range []string{"", "gzip"} {
		t.Run("encoding "+enc, func(t *testing.T) {
			start := []byte("{}")
			if enc == "gzip" {
				start = gz.Bytes()[:10] // the gzip header alone
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", io.MultiReader(bytes.NewReader(start), iotest.ErrReader(io.ErrUnexpectedEOF)))
			req.ContentLength = limit
			if enc != "" {
				req.Header.Set("Content-Encoding", enc)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, herr := s.readBody(req, new([]byte))
			runtime.ReadMemStats(&after)
			if herr == nil || herr.status != http.StatusBadRequest {
				t.Fatalf("error %v, want status 400", herr)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Fatalf("reading a %d-byte body that declared %d bytes allocated %d bytes", len(start), int64(limit), n)
			}
		})
	}
}
