package gen

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"sort"
)

// ManifestEntry is one line of the manifest: a submission, what was sent of
// it and what went wrong with it.
type ManifestEntry struct {
	SubmitID  string `json:"submit_id"`
	UserID    string `json:"user_id"`
	Seq       int    `json:"seq"`
	ProblemID string `json:"problem_id"`
	Lang      string `json:"lang"`
	TraceID   string `json:"trace_id"`
	Spans     int    `json:"spans"`
	Logs      int    `json:"logs"`
	// Records counts records by kind, service and level (spans have no
	// level), enough to compute what sampling must keep.
	Records []RecordCount `json:"records"`
	Truth   Truth         `json:"truth"`
}

// RecordCount is the number of records of one kind, service and level.
type RecordCount struct {
	Kind    string `json:"kind"` // log or span
	Service string `json:"service"`
	Level   string `json:"level,omitempty"`
	Count   int    `json:"count"`
}

// Entry summarises a planned submission.
func (s *Submission) Entry() ManifestEntry {
	e := ManifestEntry{SubmitID: s.SubmitID, UserID: s.UserID, Seq: s.Seq, ProblemID: s.ProblemID, Lang: s.Lang,
		TraceID: hex.EncodeToString(s.TraceID[:]), Truth: s.Truth}
	counts := map[RecordCount]int{}
	for _, sp := range s.Spans {
		e.Spans++
		counts[RecordCount{Kind: "span", Service: sp.Service}]++
		for _, l := range sp.Logs {
			e.Logs++
			counts[RecordCount{Kind: "log", Service: sp.Service, Level: l.Level}]++
		}
	}
	for k, n := range counts {
		k.Count = n
		e.Records = append(e.Records, k)
	}
	sort.Slice(e.Records, func(i, j int) bool {
		a, b := e.Records[i], e.Records[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Level < b.Level
	})
	return e
}

// ReadManifest reads a manifest written by Run.
func ReadManifest(r io.Reader) ([]ManifestEntry, error) {
	dec := json.NewDecoder(r)
	var out []ManifestEntry
	for dec.More() {
		var e ManifestEntry
		if err := dec.Decode(&e); err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}
