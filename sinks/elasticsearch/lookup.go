package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/logweave/logweave/sinks"
)

// maxHits is Elasticsearch's default index.max_result_window: a
// submission with more documents than this is reported as an error rather
// than checked in part.
const maxHits = 10000

// Lookup looks submissions up (for `logweave reconcile`) with a search on
// the submission field over an index pattern; the _id of each document is
// its record_id.
type Lookup struct {
	cl    *es.Client
	index string
}

// NewLookup returns a lookup over index (a pattern such as logweave-*)
// with the connection settings of cfg.
func NewLookup(cfg Config, index string) (*Lookup, error) {
	cl, err := newClient(cfg, nil)
	if err != nil {
		return nil, err
	}
	return &Lookup{cl: cl, index: index}, nil
}

// Lookup searches the submission's documents.
func (e *Lookup) Lookup(ctx context.Context, q sinks.LookupQuery) ([]sinks.Found, error) {
	body, _ := json.Marshal(map[string]any{
		"query":            map[string]any{"bool": map[string]any{"filter": []any{map[string]any{"term": map[string]any{q.Field: q.Value}}}}},
		"size":             maxHits,
		"sort":             []any{map[string]any{"record_id": "asc"}},
		"_source":          []string{"record_id"},
		"track_total_hits": true,
	})
	res, err := e.cl.Search(e.cl.Search.WithContext(ctx), e.cl.Search.WithIndex(e.index),
		e.cl.Search.WithBody(bytes.NewReader(body)), e.cl.Search.WithIgnoreUnavailable(true), e.cl.Search.WithAllowNoIndices(true))
	if err != nil {
		return nil, fmt.Errorf("searching %s for %s=%s: %w", e.index, q.Field, q.Value, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.IsError() {
		if res.StatusCode == http.StatusNotFound {
			return nil, nil // no index yet: nothing there
		}
		return nil, fmt.Errorf("searching %s for %s=%s: %s: %.300s", e.index, q.Field, q.Value, res.Status(), b)
	}
	var out struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding the search response: %w", err)
	}
	if out.Hits.Total.Value > len(out.Hits.Hits) {
		return nil, fmt.Errorf("submission %s=%s has %d documents, more than the %d one search returns", q.Field, q.Value, out.Hits.Total.Value, maxHits)
	}
	found := make([]sinks.Found, 0, len(out.Hits.Hits))
	for _, h := range out.Hits.Hits {
		found = append(found, sinks.Found{RecordID: h.ID, Where: h.Index})
	}
	return found, nil
}
