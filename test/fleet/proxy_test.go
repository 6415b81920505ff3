//go:build chaos

package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// Fault modes of a destination proxy.
const (
	modeNone   = iota
	modeFlaky  // a share of requests get a fault, chosen at random (seeded)
	modeOutage // the destination is gone: every connection is closed unanswered
)

// faultProxy stands in front of a destination (Elasticsearch, Loki) and
// answers like a misbehaving network or gateway when told to: bursts of
// 429/503, responses held past the sink's request timeout (after the
// destination wrote), connections closed before forwarding and after the
// destination wrote. It also notes when each record first became visible
// (the destination answered 2xx for it), for the latency figures.
type faultProxy struct {
	name   string
	target *url.URL
	srv    *httptest.Server
	hold   time.Duration // longer than the sink's request timeout
	isES   bool

	mode        atomic.Int32
	mu          sync.Mutex
	rng         *rand.Rand
	burst       int // requests still to answer with burstStatus
	burstStatus int

	faults   sync.Map // fault name -> *atomic.Int64
	seen     *firstSeen
	requests atomic.Int64
}

func newFaultProxy(t *testing.T, name, target string, seed uint64, hold time.Duration, isES bool, seen *firstSeen) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{name: name, target: u, hold: hold, isES: isES, seen: seen, rng: rand.New(rand.NewPCG(seed, seed+1))}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) URL() string { return p.srv.URL }

func (p *faultProxy) count(fault string) {
	v, _ := p.faults.LoadOrStore(fault, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Faults returns how many times each fault was injected.
func (p *faultProxy) Faults() map[string]int64 {
	out := map[string]int64{}
	p.faults.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// pick chooses what to do with one request.
func (p *faultProxy) pick() string {
	switch p.mode.Load() {
	case modeOutage:
		return "outage"
	case modeFlaky:
	default:
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.burst > 0 {
		p.burst--
		if p.burstStatus == 429 {
			return "429"
		}
		return "503"
	}
	switch x := p.rng.Float64(); {
	case x < 0.04:
		p.burst, p.burstStatus = 2+p.rng.IntN(4), 429
		return "429"
	case x < 0.08:
		p.burst, p.burstStatus = 2+p.rng.IntN(4), 503
		return "503"
	case x < 0.12:
		return "close-before"
	case x < 0.16:
		return "close-after"
	case x < 0.19:
		return "hold"
	}
	return ""
}

func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset, as a crashing gateway sends
			}
			conn.Close()
		}
	}
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	fault := p.pick()
	if fault != "" {
		p.count(fault)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	switch fault {
	case "outage", "close-before":
		hangUp(w)
		return
	case "429", "503":
		status := http.StatusTooManyRequests
		if fault == "503" {
			status = http.StatusServiceUnavailable
		}
		if p.isES {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"es_rejected_execution_exception","reason":"injected by the chaos proxy"},"status":%d}`, status)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "injected by the chaos proxy\n")
		return
	}
	req, err := http.NewRequest(r.Method, p.target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	client := http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, err.Error())
		return
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		p.observe(r.URL.Path, body, r.Header, rb)
	}
	switch fault {
	case "close-after":
		hangUp(w)
		return
	case "hold":
		select {
		case <-time.After(p.hold):
		case <-r.Context().Done():
		}
		hangUp(w)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(rb)
}

// observe notes the records a successful request made visible.
func (p *faultProxy) observe(path string, req []byte, h http.Header, resp []byte) {
	now := time.Now()
	switch {
	case p.isES && strings.HasSuffix(path, "_bulk"):
		var br struct {
			Items []map[string]struct {
				ID     string `json:"_id"`
				Status int    `json:"status"`
			} `json:"items"`
		}
		if json.Unmarshal(resp, &br) != nil {
			return
		}
		for _, it := range br.Items {
			for _, res := range it {
				if res.Status == 201 || res.Status == 200 {
					p.seen.note(res.ID, now)
				}
			}
		}
	case !p.isES && strings.HasSuffix(path, "/push"):
		if h.Get("Content-Type") != "application/x-protobuf" {
			return
		}
		raw, err := snappy.Decode(nil, req)
		if err != nil {
			return
		}
		for _, id := range pushRecordIDs(raw) {
			p.seen.note(id, now)
		}
	}
}

// pushRecordIDs reads the record_id structured metadata of every entry of a
// Loki PushRequest (logproto: streams=1; stream entries=2; entry
// structuredMetadata=3 of name=1, value=2), with protowire rather than the
// sink's own encoder, so the harness does not trust the code it audits.
func pushRecordIDs(b []byte) []string {
	var ids []string
	each(b, 1, func(stream []byte) {
		each(stream, 2, func(entry []byte) {
			each(entry, 3, func(pair []byte) {
				var name, value string
				each(pair, 1, func(v []byte) { name = string(v) })
				each(pair, 2, func(v []byte) { value = string(v) })
				if name == "record_id" {
					ids = append(ids, value)
				}
			})
		})
	})
	return ids
}

// each calls fn with every length-delimited field num of a message.
func each(b []byte, num protowire.Number, fn func([]byte)) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return
		}
		b = b[l:]
		if typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return
			}
			if n == num {
				fn(v)
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return
		}
		b = b[l:]
	}
}

// firstSeen holds when each record_id was first seen in a destination.
type firstSeen struct {
	mu sync.Mutex
	at map[string]time.Time
}

func newFirstSeen() *firstSeen { return &firstSeen{at: map[string]time.Time{}} }

func (f *firstSeen) note(id string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.at[id]; !ok {
		f.at[id] = t
	}
}

func (f *firstSeen) get(id string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.at[id]
	return t, ok
}

// ingestFront is the load balancer in front of the ingest processes, as a
// fleet has one: requests go round robin to the ingest members that are up;
// when the chosen one is down or dies mid-request, the client gets 503 with
// Retry-After and retries, as OTLP exporters do.
type ingestFront struct {
	srv      *httptest.Server
	backends []string
	next     atomic.Int64
	statuses sync.Map // status -> *atomic.Int64
}

func newIngestFront(t *testing.T, backends []string) *ingestFront {
	t.Helper()
	f := &ingestFront{backends: backends}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *ingestFront) URL() string { return f.srv.URL }

func (f *ingestFront) note(status int) {
	v, _ := f.statuses.LoadOrStore(status, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Statuses returns the answers clients got, by status.
func (f *ingestFront) Statuses() map[int]int64 {
	out := map[int]int64{}
	f.statuses.Range(func(k, v any) bool {
		out[k.(int)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

var frontClient = &http.Client{Timeout: 30 * time.Second}

func (f *ingestFront) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	backend := f.backends[int(f.next.Add(1))%len(f.backends)]
	req, _ := http.NewRequest(r.Method, "http://"+backend+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := frontClient.Do(req)
	if err != nil {
		f.note(http.StatusServiceUnavailable)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "ingest member unavailable: "+err.Error())
		return
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	f.note(resp.StatusCode)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(rb)
}
