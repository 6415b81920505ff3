//go:build chaos

package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// destAudit is the audit of one destination.
type destAudit struct {
	Name string `json:"name"`
	// Expected is how many records the destination must hold, from the
	// manifest and the sampling rules.
	Expected int `json:"expected"`
	// Present counts distinct record_ids found.
	Present int `json:"present"`
	// Lost counts records that must be there and are not.
	Lost int `json:"lost"`
	// VisibleDuplicates counts extra copies a reader sees (lines, documents
	// or entries beyond the first of a record_id).
	VisibleDuplicates int `json:"visible_duplicates"`
	// Unexpected counts distinct records beyond what a submission must keep.
	Unexpected int `json:"unexpected"`
	// Absorbed is what the destination absorbed as repeats (Elasticsearch
	// 409s on create, Loki re-pushes after an unknown outcome), summed
	// over every run of every member; a lower bound (a SIGKILLed member's
	// last counts are not scraped).
	Absorbed float64 `json:"absorbed_duplicates"`
	// DLQ counts dead-lettered records by reason, read from logweave.dlq.
	DLQ map[string]float64 `json:"dlq_by_reason,omitempty"`
	// LostIDs and DuplicateIDs name up to 20 records each, with their
	// submission, as evidence.
	LostIDs      []string `json:"lost_ids,omitempty"`
	DuplicateIDs []string `json:"duplicate_ids,omitempty"`
	// Latency is ingest acknowledgement to first visible, for records
	// ingested while no fault was injected.
	Latency map[string]percentiles `json:"latency,omitempty"`
}

type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
}

func percentilesOf(ms []float64) percentiles {
	if len(ms) == 0 {
		return percentiles{}
	}
	sort.Float64s(ms)
	at := func(q float64) float64 {
		i := int(q*float64(len(ms))+0.5) - 1
		return ms[max(0, min(i, len(ms)-1))]
	}
	return percentiles{N: len(ms), P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

// report is the whole audit of a run, printed as a table and written as
// JSON.
type report struct {
	Seed         uint64              `json:"seed"`
	Duration     string              `json:"duration"`
	Submissions  int                 `json:"submissions"`
	Destinations []*destAudit        `json:"destinations"`
	GroupLag     map[string]int64    `json:"group_lag_at_end"`
	Isolation    *isolation          `json:"slow_sink_isolation,omitempty"`
	Faults       map[string]int64    `json:"faults"`
	IngestAnswer map[int]int64       `json:"ingest_answers_to_clients"`
	Malformed    map[int]int64       `json:"malformed_requests_answers"`
	Restarts     map[string]int      `json:"process_starts"`
	Stops        map[string][]string `json:"graceful_stop_durations,omitempty"`
	Exits        []string            `json:"unplanned_exits,omitempty"`
	Failures     []string            `json:"failures"`
	Load         *loadFigures        `json:"load,omitempty"`

	raw int // raw records the workload sent
}

// isolation is the slow-sink figure: during an outage of one destination,
// how far the others fell behind.
type isolation struct {
	Outage       string           `json:"outage_of"`
	Lasted       string           `json:"lasted"`
	MaxLag       map[string]int64 `json:"max_lag_during_outage"`
	LagAtOutEnd  map[string]int64 `json:"lag_when_outage_ended"`
	DeliveredDur map[string]int64 `json:"delivered_during_outage"`
}

// compare audits one destination: want is records per submission, h what
// the destination holds, truth the enriched topic's records (to name lost
// records and to attribute records without a submit_id).
func compare(name string, want map[string]int, h *holding, truth map[string]enrichedInfo, kinds string) *destAudit {
	a := &destAudit{Name: name}
	distinct := map[string]int{}
	for id, n := range h.copies {
		a.Present++
		a.VisibleDuplicates += n - 1
		if n > 1 && len(a.DuplicateIDs) < 20 {
			a.DuplicateIDs = append(a.DuplicateIDs, fmt.Sprintf("%s (%s) x%d", id, submitOf(id, h, truth), n))
		}
		distinct[submitOf(id, h, truth)]++
	}
	for sub, n := range want {
		a.Expected += n
		if d := distinct[sub]; d < n {
			a.Lost += n - d
		}
	}
	for sub, d := range distinct {
		if d > want[sub] {
			a.Unexpected += d - want[sub]
		}
	}
	// Name the missing records the enriched topic holds.
	for _, id := range sortedKeys(truth) {
		info := truth[id]
		if kinds != "" && info.kind != kinds {
			continue
		}
		if want[info.submit] == 0 {
			continue
		}
		if h.copies[id] == 0 && len(a.LostIDs) < 20 {
			a.LostIDs = append(a.LostIDs, fmt.Sprintf("%s (%s, kept_by %s)", id, info.submit, info.keptBy))
		}
	}
	sort.Strings(a.DuplicateIDs)
	return a
}

func submitOf(id string, h *holding, truth map[string]enrichedInfo) string {
	if s := h.submit[id]; s != "" {
		return s
	}
	return truth[id].submit
}

// latency fills a.Latency from first-seen times, for records of the
// enriched topic ingested within [from, to).
func (a *destAudit) latency(seen *firstSeen, truth map[string]enrichedInfo, kinds string, from, to time.Time) {
	var all, tail, head []float64
	for id, info := range truth {
		if (kinds != "" && info.kind != kinds) || info.ingestedAt.Before(from) || !info.ingestedAt.Before(to) {
			continue
		}
		at, ok := seen.get(id)
		if !ok {
			continue
		}
		ms := float64(at.Sub(info.ingestedAt).Microseconds()) / 1000
		all = append(all, ms)
		if strings.HasPrefix(info.keptBy, "head:") {
			head = append(head, ms)
		} else {
			tail = append(tail, ms)
		}
	}
	a.Latency = map[string]percentiles{"all": percentilesOf(all), "tail_kept": percentilesOf(tail), "head_sampled": percentilesOf(head)}
}

// print writes the audit table.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n== chaos audit: seed %d, %d submissions, %s\n", r.Seed, r.Submissions, r.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "destination\texpected\tpresent\tLOST\tVISIBLE DUPS\tunexpected\tabsorbed dups\tDLQ\tp50 ms\tp95 ms\tp99 ms\ttail p50/p99\thead p50/p99\t")
	for _, d := range r.Destinations {
		l, tl, hd := d.Latency["all"], d.Latency["tail_kept"], d.Latency["head_sampled"]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.0f\t%s\t%.0f\t%.0f\t%.0f\t%.0f/%.0f\t%.0f/%.0f\t\n", d.Name, d.Expected, d.Present, d.Lost,
			d.VisibleDuplicates, d.Unexpected, d.Absorbed, dlqText(d.DLQ), l.P50, l.P95, l.P99, tl.P50, tl.P99, hd.P50, hd.P99)
	}
	tw.Flush()
	fmt.Fprintf(w, "group lag at end: %v\n", r.GroupLag)
	if r.Isolation != nil {
		fmt.Fprintf(w, "slow-sink isolation: %s outage for %s; max lag during it %v; delivered during it %v; lag when it ended %v\n",
			r.Isolation.Outage, r.Isolation.Lasted, r.Isolation.MaxLag, r.Isolation.DeliveredDur, r.Isolation.LagAtOutEnd)
	}
	if r.Load != nil {
		r.Load.print(w)
	}
	fmt.Fprintf(w, "faults injected: %v\n", r.Faults)
	fmt.Fprintf(w, "process starts: %v\n", r.Restarts)
	fmt.Fprintf(w, "ingest answers to clients: %v; malformed requests answered: %v\n", r.IngestAnswer, r.Malformed)
	for _, e := range r.Exits {
		fmt.Fprintf(w, "  unplanned exit (restarted by the harness): %s\n", e)
	}
	for _, d := range r.Destinations {
		for _, id := range d.LostIDs {
			fmt.Fprintf(w, "  lost in %s: %s\n", d.Name, id)
		}
		for _, id := range d.DuplicateIDs {
			fmt.Fprintf(w, "  duplicate in %s: %s\n", d.Name, id)
		}
	}
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "RESULT: PASS (nothing lost, no visible duplicate, every group drained)")
	} else {
		fmt.Fprintf(w, "RESULT: FAIL\n  %s\n", strings.Join(r.Failures, "\n  "))
	}
}

func dlqText(m map[string]float64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s:%.0f", k, m[k]))
	}
	return strings.Join(parts, ",")
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// judge fills r.Failures: loss, visible duplicates, unexpected records, lag.
func (r *report) judge() {
	for _, d := range r.Destinations {
		if d.Lost > 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: %d kept records lost", d.Name, d.Lost))
		}
		if d.VisibleDuplicates > 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: %d visible duplicates", d.Name, d.VisibleDuplicates))
		}
		if d.Unexpected > 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: %d records the sampling rules do not keep", d.Name, d.Unexpected))
		}
	}
	for _, g := range sortedKeys(r.GroupLag) {
		if r.GroupLag[g] != 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("group %s: lag %d at the end", g, r.GroupLag[g]))
		}
	}
}
