package ingest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
