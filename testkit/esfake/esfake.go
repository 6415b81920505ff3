// Package esfake is an in-process HTTP server that implements the parts of
// the Elasticsearch REST API logweave uses, as Elasticsearch documents
// them, for tests on machines where no Elasticsearch can run:
//
//   - every response carries X-Elastic-Product: Elasticsearch, which the
//     official Go client requires;
//   - POST /_bulk (and /{index}/_bulk): NDJSON action/source pairs, gzip
//     request bodies, create and index actions, per-item results in request
//     order, 409 version_conflict_engine_exception for create on an
//     existing _id, "errors": true when any item failed;
//   - PUT and GET /_index_template/{name};
//   - GET / (cluster info).
//
// Faults can be injected: whole-request statuses from Elasticsearch (429,
// 503) or from a proxy in front of it (404, 408, 413: plain text, without
// the X-Elastic-Product header), a proxy's request body limit, per-item
// statuses (429, 400 mapper_parsing_exception, ...), slow responses and
// connection resets.
package esfake

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// ItemFault decides an injected result for one bulk item: status 0 means
// none (normal processing).
type ItemFault func(index, id string, source []byte) (status int, errType, reason string)

// Server is a fake Elasticsearch.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	docs      map[string]map[string]json.RawMessage // index -> id -> source
	templates map[string]json.RawMessage
	requests  int
	gzipped   int
	wireBytes int64 // request bodies as sent (compressed when gzipped)

	// faults, guarded by mu
	failNext   []int // statuses for the next whole requests
	proxyNext  []int // statuses a proxy answers for the next requests
	bodyLimit  int   // a proxy's limit on request bodies as sent; 0 for none
	tooLarge   int   // requests refused by bodyLimit
	resetNext  int
	delay      time.Duration
	itemFault  ItemFault
	authHeader string
}

// New starts a server on 127.0.0.1, closed by the caller.
func New() *Server {
	s := &Server{docs: map[string]map[string]json.RawMessage{}, templates: map[string]json.RawMessage{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next whole requests answer these statuses.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// ProxyFailNext makes a proxy in front of the server answer the next
// requests with these statuses, as a proxy does: a plain-text body and no
// X-Elastic-Product header. The requests do not reach Elasticsearch.
func (s *Server) ProxyFailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proxyNext = append(s.proxyNext, statuses...)
}

// SetBodyLimit makes a proxy in front of the server refuse requests whose
// body, as sent (compressed when it is), is larger than n bytes, with 413
// as nginx's client_max_body_size does. 0 removes the limit.
func (s *Server) SetBodyLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodyLimit = n
}

// TooLarge returns how many requests the body limit refused.
func (s *Server) TooLarge() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tooLarge
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.proxyNext, s.bodyLimit, s.resetNext, s.delay, s.itemFault = nil, nil, 0, 0, 0, nil
}

// ResetNext closes the connection of the next n requests without an answer.
func (s *Server) ResetNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetNext = n
}

// SetDelay delays every answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetItemFault injects per-item results (nil for none).
func (s *Server) SetItemFault(f ItemFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemFault = f
}

// RequireAuth makes every request without this Authorization header get
// 401.
func (s *Server) RequireAuth(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authHeader = header
}

// Docs returns a copy of the documents of an index by id.
func (s *Server) Docs(index string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	for id, d := range s.docs[index] {
		out[id] = d
	}
	return out
}

// Delete removes a document, as a DELETE /{index}/_doc/{id} would, and
// reports whether it existed.
func (s *Server) Delete(index, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.docs[index][id]
	delete(s.docs[index], id)
	return ok
}

// Put stores a document as if some other writer had indexed it.
func (s *Server) Put(index, id string, source json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs[index] == nil {
		s.docs[index] = map[string]json.RawMessage{}
	}
	s.docs[index][id] = source
}

// AllDocs returns every document, by index then id.
func (s *Server) AllDocs() map[string]map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]json.RawMessage{}
	for idx, docs := range s.docs {
		out[idx] = map[string]json.RawMessage{}
		for id, d := range docs {
			out[idx][id] = d
		}
	}
	return out
}

// Template returns an installed index template's body.
func (s *Server) Template(name string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.templates[name]
	return t, ok
}

// WireBytes returns the bytes of all request bodies as they arrived, before
// decompression: what a sink's compression setting saves on the network.
func (s *Server) WireBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wireBytes
}

// countingReader counts the bytes read through it into its server.
type countingReader struct {
	io.ReadCloser
	s *Server
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.s.mu.Lock()
	c.s.wireBytes += int64(n)
	c.s.mu.Unlock()
	return n, err
}

// Stats returns how many requests arrived and how many were gzipped.
func (s *Server) Stats() (requests, gzipped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.gzipped
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	delay := s.delay
	var fail int
	if len(s.failNext) > 0 {
		fail, s.failNext = s.failNext[0], s.failNext[1:]
	}
	reset := s.resetNext > 0
	if reset {
		s.resetNext--
	}
	auth := s.authHeader
	var proxy int
	if len(s.proxyNext) > 0 {
		proxy, s.proxyNext = s.proxyNext[0], s.proxyNext[1:]
	}
	limit := s.bodyLimit
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	if proxy != 0 {
		io.Copy(io.Discard, r.Body)
		proxyError(w, proxy)
		return
	}
	if limit > 0 {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if len(body) > limit {
			s.mu.Lock()
			s.tooLarge++
			s.mu.Unlock()
			proxyError(w, http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	r.Body = countingReader{ReadCloser: r.Body, s: s}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "parse_exception", "bad gzip body: "+err.Error())
			return
		}
		defer zr.Close()
		r.Body = zr
		s.mu.Lock()
		s.gzipped++
		s.mu.Unlock()
	}
	if auth != "" && r.Header.Get("Authorization") != auth {
		writeError(w, http.StatusUnauthorized, "security_exception", "missing authentication credentials for REST request")
		return
	}
	if fail != 0 {
		typ := "es_rejected_execution_exception"
		if fail >= 500 {
			typ = "unavailable_shards_exception"
		}
		writeError(w, fail, typ, "injected failure")
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	switch {
	case path == "" && r.Method == http.MethodGet:
		json.NewEncoder(w).Encode(map[string]any{"name": "esfake", "cluster_name": "esfake", "version": map[string]any{"number": "8.15.0"}, "tagline": "You Know, for Search"})
	case path == "_bulk" || strings.HasSuffix(path, "/_bulk"):
		s.bulk(w, r, strings.TrimSuffix(strings.TrimSuffix(path, "_bulk"), "/"))
	case path == "_search" || strings.HasSuffix(path, "/_search"):
		s.search(w, r, strings.TrimSuffix(strings.TrimSuffix(path, "_search"), "/"))
	case strings.HasPrefix(path, "_index_template/"):
		s.template(w, r, strings.TrimPrefix(path, "_index_template/"))
	default:
		writeError(w, http.StatusNotFound, "not_found", "esfake does not implement "+r.Method+" /"+path)
	}
}

// proxyError answers as nginx does for its own errors.
func proxyError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", text, text)
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "reason": reason, "root_cause": []any{map[string]any{"type": typ, "reason": reason}}}, "status": status})
}

func (s *Server) template(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		body, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(body) {
			writeError(w, http.StatusBadRequest, "parse_exception", "request body is required and must be JSON")
			return
		}
		s.mu.Lock()
		s.templates[name] = body
		s.mu.Unlock()
		w.Write([]byte(`{"acknowledged":true}`))
	case http.MethodGet:
		s.mu.Lock()
		t, ok := s.templates[name]
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found")
			return
		}
		fmt.Fprintf(w, `{"index_templates":[{"name":%q,"index_template":%s}]}`, name, t)
	default:
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method)
	}
}

type bulkItem struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Status int             `json:"status"`
	Result string          `json:"result,omitempty"`
	Error  *bulkItemError  `json:"error,omitempty"`
	Seq    json.RawMessage `json:"_seq_no,omitempty"`
}

type bulkItemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defaultIndex string) {
	var body io.Reader = r.Body
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/json") &&
		!strings.HasPrefix(ct, "application/vnd.elasticsearch+x-ndjson") {
		writeError(w, http.StatusNotAcceptable, "media_type_header_exception", "Content-Type header ["+ct+"] is not supported")
		return
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 100<<20)
	var (
		items  []map[string]bulkItem
		errors bool
	)
	start := time.Now()
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "Malformed action/metadata line ["+string(line)+"]")
			return
		}
		var op string
		for k := range action {
			op = k
		}
		meta := action[op]
		if meta.Index == "" {
			meta.Index = defaultIndex
		}
		if op != "create" && op != "index" {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "esfake supports create and index, not "+op)
			return
		}
		if !sc.Scan() {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
			return
		}
		src := append(json.RawMessage(nil), bytes.TrimSpace(sc.Bytes())...)
		it := s.applyItem(op, meta.Index, meta.ID, src)
		if it.Error != nil {
			errors = true
		}
		items = append(items, map[string]bulkItem{op: it})
	}
	if err := sc.Err(); err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", err.Error())
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"took": time.Since(start).Milliseconds(), "errors": errors, "items": items})
}

func (s *Server) applyItem(op, index, id string, src json.RawMessage) bulkItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := bulkItem{Index: index, ID: id}
	if s.itemFault != nil {
		if st, typ, reason := s.itemFault(index, id, src); st != 0 {
			it.Status, it.Error = st, &bulkItemError{Type: typ, Reason: reason}
			return it
		}
	}
	if !json.Valid(src) {
		it.Status, it.Error = 400, &bulkItemError{Type: "document_parsing_exception", Reason: "failed to parse"}
		return it
	}
	if index == "" || strings.ToLower(index) != index {
		it.Status, it.Error = 400, &bulkItemError{Type: "invalid_index_name_exception", Reason: "Invalid index name [" + index + "], must be lowercase"}
		return it
	}
	if s.docs[index] == nil {
		s.docs[index] = map[string]json.RawMessage{}
	}
	if _, exists := s.docs[index][id]; exists && op == "create" {
		it.Status = 409
		it.Error = &bulkItemError{Type: "version_conflict_engine_exception", Reason: "[" + id + "]: version conflict, document already exists (current version [1])"}
		return it
	}
	s.docs[index][id] = src
	it.Status, it.Result = 201, "created"
	return it
}
