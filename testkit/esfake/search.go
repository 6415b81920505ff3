package esfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
)

// searchRequest is the subset of the Query DSL esfake answers: a term
// query, or a bool query whose filter/must clauses are term queries; sort
// by one field; size.
type searchRequest struct {
	Query map[string]json.RawMessage `json:"query"`
	Size  *int                       `json:"size"`
	Sort  []map[string]any           `json:"sort"`
}

type term struct {
	field string
	value any
}

func parseTerms(q map[string]json.RawMessage) ([]term, error) {
	if raw, ok := q["term"]; ok {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		var out []term
		for f, v := range m {
			if obj, ok := v.(map[string]any); ok {
				v = obj["value"]
			}
			out = append(out, term{f, v})
		}
		return out, nil
	}
	if raw, ok := q["bool"]; ok {
		var b map[string][]map[string]json.RawMessage
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		var out []term
		for clause, qs := range b {
			if clause != "filter" && clause != "must" {
				return nil, fmt.Errorf("esfake supports bool filter/must, not %s", clause)
			}
			for _, sub := range qs {
				ts, err := parseTerms(sub)
				if err != nil {
					return nil, err
				}
				out = append(out, ts...)
			}
		}
		return out, nil
	}
	if _, ok := q["match_all"]; ok || len(q) == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("esfake supports term, bool and match_all queries")
}

func matches(doc map[string]any, terms []term) bool {
	for _, t := range terms {
		var cur any = doc
		for _, part := range strings.Split(t.field, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			cur = m[part]
		}
		if fmt.Sprint(cur) != fmt.Sprint(t.value) {
			return false
		}
	}
	return true
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, indexPattern string) {
	var req searchRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "parsing_exception", err.Error())
			return
		}
	}
	terms, err := parseTerms(req.Query)
	if err != nil {
		writeError(w, http.StatusBadRequest, "parsing_exception", err.Error())
		return
	}
	if indexPattern == "" {
		indexPattern = "*"
	}
	type hit struct {
		Index  string          `json:"_index"`
		ID     string          `json:"_id"`
		Source json.RawMessage `json:"_source"`
		doc    map[string]any
	}
	var hits []hit
	s.mu.Lock()
	for idx, docs := range s.docs {
		if ok, _ := path.Match(indexPattern, idx); !ok {
			continue
		}
		for id, src := range docs {
			var doc map[string]any
			if json.Unmarshal(src, &doc) != nil || !matches(doc, terms) {
				continue
			}
			hits = append(hits, hit{Index: idx, ID: id, Source: src, doc: doc})
		}
	}
	s.mu.Unlock()
	sortField, desc := "_id", false
	if len(req.Sort) > 0 {
		for f, o := range req.Sort[0] {
			sortField = f
			if m, ok := o.(map[string]any); ok {
				o = m["order"]
			}
			desc = o == "desc"
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := fmt.Sprint(hits[i].doc[sortField]), fmt.Sprint(hits[j].doc[sortField])
		if sortField == "_id" {
			a, b = hits[i].ID, hits[j].ID
		}
		if a == b {
			return hits[i].ID < hits[j].ID
		}
		return (a < b) != desc
	})
	total := len(hits)
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	if len(hits) > size {
		hits = hits[:size]
	}
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "timed_out": false,
		"hits": map[string]any{"total": map[string]any{"value": total, "relation": "eq"}, "hits": hits}})
}
