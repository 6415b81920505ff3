package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/logweave/logweave/internal/tlsca"
	"github.com/logweave/logweave/sinks"
)

// lokiLimit is the entries asked per query_range request; Loki's default
// max_entries_limit_per_query is 5000.
const lokiLimit = 5000

// Lookup looks submissions up (for `logweave reconcile`) with query_range
// and a structured metadata filter, per tenant. The record_id comes from the entry's structured
// metadata (the default routes attach it; a route that leaves it out
// makes its entries unidentifiable, and they count as extra).
type Lookup struct {
	cfg Config
	hc  *http.Client
}

// NewLookup returns a lookup with the connection settings of cfg.
func NewLookup(cfg Config) (*Lookup, error) {
	tr, err := tlsca.Transport("loki ca_file", cfg.CAFile)
	if err != nil {
		return nil, err
	}
	return &Lookup{cfg: cfg, hc: &http.Client{Transport: tr, Timeout: cfg.RequestTimeout}}, nil
}

// Lookup queries every tenant and stream selector the submission's
// records were routed to, plus the sink's default tenant.
func (l *Lookup) Lookup(ctx context.Context, q sinks.LookupQuery) ([]sinks.Found, error) {
	selectors := map[string]map[string]bool{l.cfg.Tenant: {}} // tenant -> label names
	for _, r := range q.Expected {
		tenant := r.Dest.Tenant
		if tenant == "" {
			tenant = l.cfg.Tenant
		}
		if selectors[tenant] == nil {
			selectors[tenant] = map[string]bool{}
		}
		if len(r.Dest.Labels) > 0 {
			selectors[tenant][r.Dest.Labels[0].Name] = true
		}
	}
	seen := map[string]bool{}
	var found []sinks.Found
	tenants := make([]string, 0, len(selectors))
	for t := range selectors {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, tenant := range tenants {
		names := selectors[tenant]
		if len(names) == 0 {
			names = map[string]bool{"service": true}
		}
		for name := range names {
			query := fmt.Sprintf(`{%s=~".+"} | %s=%s`, name, q.Field, strconv.Quote(q.Value))
			err := l.queryAll(ctx, tenant, query, q.From, q.To, func(stream map[string]string, ts, line string) {
				key := tenant + "\x00" + streamKey(stream) + "\x00" + ts + "\x00" + line
				if seen[key] {
					return
				}
				seen[key] = true
				where := "loki"
				if tenant != "" {
					where = "loki tenant " + tenant
				}
				found = append(found, sinks.Found{RecordID: stream["record_id"], Where: where})
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}

func streamKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + strconv.Quote(m[k]) + ",")
	}
	return b.String()
}

// queryAll pages through query_range forward in time.
func (l *Lookup) queryAll(ctx context.Context, tenant, query string, from, to time.Time, fn func(stream map[string]string, ts, line string)) error {
	start := from.UnixNano()
	end := to.UnixNano() + 1
	pageSeen := map[string]bool{}
	for {
		streams, err := l.queryRange(ctx, tenant, query, start, end)
		if err != nil {
			return err
		}
		n, fresh := 0, 0
		last := start
		next := map[string]bool{}
		for _, s := range streams {
			for _, v := range s.Values {
				n++
				if len(v) < 2 {
					continue
				}
				var ts, line string
				if json.Unmarshal(v[0], &ts) != nil || json.Unmarshal(v[1], &line) != nil {
					continue
				}
				t, _ := strconv.ParseInt(ts, 10, 64)
				k := streamKey(s.Stream) + ts + line
				next[k] = true
				if !pageSeen[k] {
					fresh++
					fn(s.Stream, ts, line)
				}
				last = max(last, t)
			}
		}
		// A full page continues from its last timestamp (inclusive: more
		// entries may share it); entries seen on the previous page are
		// skipped. A page with nothing new ends the walk.
		if n < lokiLimit || fresh == 0 {
			return nil
		}
		start, pageSeen = last, next
	}
}

type lokiStream struct {
	Stream map[string]string   `json:"stream"`
	Values [][]json.RawMessage `json:"values"`
}

func (l *Lookup) queryRange(ctx context.Context, tenant, query string, start, end int64) ([]lokiStream, error) {
	v := url.Values{}
	v.Set("query", query)
	v.Set("start", strconv.FormatInt(start, 10))
	v.Set("end", strconv.FormatInt(end, 10))
	v.Set("limit", strconv.Itoa(lokiLimit))
	v.Set("direction", "forward")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(l.cfg.URL, "/")+"/loki/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	switch {
	case l.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+l.cfg.BearerToken)
	case l.cfg.Username != "":
		req.SetBasicAuth(l.cfg.Username, l.cfg.Password)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying loki: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("querying loki %q: %s: %.300s", query, resp.Status, b)
	}
	var out struct {
		Data struct {
			ResultType string       `json:"resultType"`
			Result     []lokiStream `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding the loki response: %w", err)
	}
	return out.Data.Result, nil
}
