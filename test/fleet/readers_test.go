//go:build chaos

package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// seenRecord is one copy of a record found in a destination.
type seenRecord struct {
	id, submit string
}

// holding is what a destination holds: every copy found, by record_id.
type holding struct {
	copies map[string]int    // record_id -> copies visible
	submit map[string]string // record_id -> submit_id
}

func newHolding() *holding { return &holding{copies: map[string]int{}, submit: map[string]string{}} }

func (h *holding) add(r seenRecord) {
	h.copies[r.id]++
	if r.submit != "" {
		h.submit[r.id] = r.submit
	}
}

// enrichedInfo is what the audit keeps of a record of the enriched topic.
type enrichedInfo struct {
	submit     string
	keptBy     string
	ingestedAt time.Time
	kind       string
}

// readEnriched reads logweave.enriched read_committed from the start to
// the end offsets of the moment, with a client of its own.
func readEnriched(ctx context.Context, broker, topic string) (*holding, map[string]enrichedInfo, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Markers are delivered too, so the position is exact.
		kgo.KeepControlRecords())
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	lso, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("listing end offsets: %w", err)
	}
	ends := map[int32]int64{}
	lso.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	pos := map[int32]int64{}
	h := newHolding()
	info := map[string]enrichedInfo{}
	left := map[int32]bool{}
	for p, end := range ends {
		if end > 0 {
			left[p] = true
		}
	}
	for len(left) > 0 {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("reading %s: %w (partitions not done: %v)", topic, ctx.Err(), left)
		}
		fs := cl.PollRecords(ctx, 10000)
		// Fetch errors are retried by the next poll; the context bounds it.
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			var er v1.EnrichedRecord
			if proto.Unmarshal(r.Value, &er) == nil {
				h.add(seenRecord{id: er.GetRecordId(), submit: er.GetSubmission().GetSubmitId()})
				kind := "log"
				if er.GetRecord().GetSpan() != nil {
					kind = "span"
				}
				info[er.GetRecordId()] = enrichedInfo{submit: er.GetSubmission().GetSubmitId(), keptBy: er.GetSampling().GetKeptBy(),
					ingestedAt: time.Unix(0, int64(er.GetRecord().GetIngestedAtUnixNano())), kind: kind}
			}
		})
		// Transaction markers take offsets too: a partition is done when
		// the client's position reached the end, whatever the last record.
		for p := range left {
			if pos[p] >= ends[p] {
				delete(left, p)
			}
		}
	}
	return h, info, nil
}

// readFiles reads every file the file sink wrote in dir.
func readFiles(dir string) (*holding, error) {
	h := newHolding()
	paths, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		err = eachFileLine(f, func(line []byte) {
			var d struct {
				RecordID string `json:"record_id"`
				SubmitID string `json:"submit_id"`
			}
			if json.Unmarshal(line, &d) == nil && d.RecordID != "" {
				h.add(seenRecord{id: d.RecordID, submit: d.SubmitID})
			} else {
				h.add(seenRecord{id: "torn:" + p + ":" + strconv.Itoa(len(line))})
			}
		})
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

func eachFileLine(r io.Reader, fn func([]byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			fn(sc.Bytes())
		}
	}
	return sc.Err()
}

// fileTailer notes when each record first appears in the file sink's
// files, by reading what was appended since the last look.
type fileTailer struct {
	dir  string
	seen *firstSeen
	mu   sync.Mutex
	pos  map[string]int64
	rest map[string][]byte
}

func (t *fileTailer) poll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	paths, _ := filepath.Glob(filepath.Join(t.dir, "*.ndjson"))
	now := time.Now()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.Size() < t.pos[p] { // cut (torn tail repaired): read again
			t.pos[p], t.rest[p] = 0, nil
		}
		f.Seek(t.pos[p], io.SeekStart)
		b, _ := io.ReadAll(f)
		f.Close()
		t.pos[p] += int64(len(b))
		b = append(t.rest[p], b...)
		i := bytes.LastIndexByte(b, '\n')
		if i < 0 {
			t.rest[p] = b
			continue
		}
		t.rest[p] = append([]byte(nil), b[i+1:]...)
		eachFileLine(bytes.NewReader(b[:i+1]), func(line []byte) {
			var d struct {
				RecordID string `json:"record_id"`
			}
			if json.Unmarshal(line, &d) == nil && d.RecordID != "" {
				t.seen.note(d.RecordID, now)
			}
		})
	}
}

// readES reads every document of the fake Elasticsearch through its
// search API, and checks the count the API reports.
func readES(ctx context.Context, base string) (*holding, error) {
	body := strings.NewReader(`{"size": 10000000, "query": {"match_all": {}}}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/logweave-*/_search", body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("searching elasticsearch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("searching elasticsearch: %s: %s", resp.Status, b)
	}
	var sr struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				Index  string `json:"_index"`
				ID     string `json:"_id"`
				Source struct {
					RecordID string `json:"record_id"`
					SubmitID string `json:"submit_id"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
		return nil, fmt.Errorf("decoding search answer: %w", err)
	}
	if sr.Hits.Total.Value != len(sr.Hits.Hits) {
		return nil, fmt.Errorf("search reported %d hits and returned %d", sr.Hits.Total.Value, len(sr.Hits.Hits))
	}
	h := newHolding()
	for _, hit := range sr.Hits.Hits {
		id := hit.Source.RecordID
		if id != hit.ID {
			id = "mismatch:" + hit.Index + "/" + hit.ID
		}
		// The same record in two indices is a duplicate a query sees.
		h.add(seenRecord{id: id, submit: hit.Source.SubmitID})
	}
	return h, nil
}

// readLoki reads every log line of the window from Loki with query_range,
// in slices small enough to stay under Loki's per-query line limit, and
// counts lines by their record_id structured metadata.
func readLoki(ctx context.Context, base string, from, to time.Time) (*holding, error) {
	h := newHolding()
	entries := map[string]bool{}
	const limit = 5000
	var read func(from, to time.Time) error
	read = func(from, to time.Time) error {
		q := url.Values{}
		q.Set("query", `{service=~".+"}`)
		q.Set("start", strconv.FormatInt(from.UnixNano(), 10))
		q.Set("end", strconv.FormatInt(to.UnixNano(), 10))
		q.Set("limit", strconv.Itoa(limit))
		q.Set("direction", "forward")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/loki/api/v1/query_range?"+q.Encode(), nil)
		req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("querying loki: %w", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("querying loki: %s: %s", resp.Status, b)
		}
		var qr struct {
			Data struct {
				Result []struct {
					Stream map[string]string   `json:"stream"`
					Values [][]json.RawMessage `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &qr); err != nil {
			return fmt.Errorf("decoding loki answer: %w", err)
		}
		var lines []seenRecord
		var keys []string
		for _, s := range qr.Data.Result {
			stream := fmt.Sprint(s.Stream)
			for _, v := range s.Values {
				keys = append(keys, stream+"\x00"+string(bytes.Join(rawSlice(v), []byte{0})))
				var rec seenRecord
				if len(v) >= 3 {
					var cat struct {
						Structured map[string]string `json:"structuredMetadata"`
					}
					json.Unmarshal(v[2], &cat)
					rec = seenRecord{id: cat.Structured["record_id"], submit: cat.Structured["submit_id"]}
				}
				if rec.id == "" {
					rec.id = "no-record-id:" + string(v[1])
				}
				lines = append(lines, rec)
			}
		}
		if len(lines) >= limit {
			if to.Sub(from) < time.Millisecond {
				return fmt.Errorf("more than %d lines within a millisecond at %s", limit, from)
			}
			mid := from.Add(to.Sub(from) / 2)
			if err := read(from, mid); err != nil {
				return err
			}
			return read(mid, to)
		}
		for i, r := range lines {
			// Slices meet at one instant; an entry on the boundary may come
			// back from both queries, which no single query would show.
			if !entries[keys[i]] {
				entries[keys[i]] = true
				h.add(r)
			}
		}
		return nil
	}
	// query_range includes start and excludes end: slices do not overlap.
	for t := from; t.Before(to); t = t.Add(30 * time.Second) {
		end := t.Add(30 * time.Second)
		if end.After(to) {
			end = to
		}
		if err := read(t, end); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func rawSlice(v []json.RawMessage) [][]byte {
	out := make([][]byte, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// readDLQ counts the dead-lettered records of logweave.dlq by sink and
// reason, from the headers every writer of the DLQ sets, read to the end
// offsets of the moment.
func readDLQ(ctx context.Context, broker, topic string) (map[string]map[string]float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lso, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	left := map[int32]int64{}
	lso.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	out := map[string]map[string]float64{}
	for len(left) > 0 {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading %s: %w (partitions not done: %v)", topic, ctx.Err(), left)
		}
		cl.PollRecords(ctx, 10000).EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			sink, reason := "unknown", "unknown"
			for _, h := range r.Headers {
				switch h.Key {
				case "logweave.sink":
					sink = string(h.Value)
				case "logweave.reason":
					reason = string(h.Value)
				}
			}
			if out[sink] == nil {
				out[sink] = map[string]float64{}
			}
			out[sink][reason]++
		})
	}
	return out, nil
}
