package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logweave/logweave/sinks"
)

// SinkResult is one submission in one sink's destination.
type SinkResult struct {
	Sink       string `json:"sink"`
	Submission string `json:"submission"`
	// Expected records: routed to the sink and not dead-lettered.
	Expected int `json:"expected"`
	// Found copies in the destination (duplicates counted each).
	Found int `json:"found"`
	// DeadLettered records the sink sent to the DLQ instead.
	DeadLettered int `json:"dead_lettered"`
	// Missing record_ids: expected, committed by the sink, not found.
	Missing []string `json:"missing,omitempty"`
	// Extra record_ids: found, neither expected nor dead-lettered ("" for
	// an entry without a record_id).
	Extra []string `json:"extra,omitempty"`
	// Duplicated record_ids: found more than once.
	Duplicated []string `json:"duplicated,omitempty"`
	// Pending record_ids: expected, not found, and not yet committed by
	// the sink's group (it is behind, not lossy).
	Pending []string `json:"pending,omitempty"`
	// Repaired record_ids: missing ones re-driven by --repair.
	Repaired []string `json:"repaired,omitempty"`
	// RepairRejected record_ids: the destination refused them on repair.
	RepairRejected []string `json:"repair_rejected,omitempty"`

	expected map[string]*sinks.Record
}

// Clean reports whether the destination holds exactly what it should.
func (r *SinkResult) Clean() bool {
	return len(r.Missing)+len(r.Extra)+len(r.Duplicated)+len(r.Pending)+len(r.RepairRejected) == 0
}

func (r *SinkResult) compare(expected map[string]*sinks.Record, found []sinks.Found, dlq, pending map[string]bool) {
	r.Expected, r.Found = len(expected), len(found)
	r.Missing, r.Extra, r.Duplicated, r.Pending = nil, nil, nil, nil
	count := map[string]int{}
	for _, f := range found {
		count[f.RecordID]++
	}
	for id := range expected {
		switch {
		case count[id] > 0:
		case pending[id]:
			r.Pending = append(r.Pending, id)
		default:
			r.Missing = append(r.Missing, id)
		}
	}
	for id, n := range count {
		if _, ok := expected[id]; !ok && !dlq[id] {
			for range n {
				r.Extra = append(r.Extra, id)
			}
			continue
		}
		if n > 1 {
			r.Duplicated = append(r.Duplicated, id)
		}
	}
	sort.Strings(r.Missing)
	sort.Strings(r.Extra)
	sort.Strings(r.Duplicated)
	sort.Strings(r.Pending)
}

// SinkSummary adds up a sink's results.
type SinkSummary struct {
	Sink           string `json:"sink"`
	Expected       int    `json:"expected"`
	Found          int    `json:"found"`
	DeadLettered   int    `json:"dead_lettered"`
	Missing        int    `json:"missing"`
	Extra          int    `json:"extra"`
	Duplicated     int    `json:"duplicated"`
	Pending        int    `json:"pending"`
	Repaired       int    `json:"repaired"`
	RepairRejected int    `json:"repair_rejected"`
}

// Report is what a run found.
type Report struct {
	From        time.Time     `json:"from"`
	To          time.Time     `json:"to"`
	Records     int64         `json:"records"`
	Submissions int           `json:"submissions"`
	Undecodable int           `json:"undecodable"`
	Unkeyed     int           `json:"unkeyed"`
	Sinks       []SinkSummary `json:"sinks"`
	// Differences are the submissions that are not clean, per sink.
	Differences []*SinkResult `json:"differences"`
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// Clean reports whether every destination holds exactly what it should.
func (r *Report) Clean() bool { return len(r.Differences) == 0 }

func (r *Report) fill(targets []*target, subs []*submission, results [][]*SinkResult) {
	r.Differences = []*SinkResult{}
	for j, t := range targets {
		sum := SinkSummary{Sink: t.name}
		for i := range subs {
			res := results[i][j]
			sum.Expected += res.Expected
			sum.Found += res.Found
			sum.DeadLettered += res.DeadLettered
			sum.Missing += len(res.Missing)
			sum.Extra += len(res.Extra)
			sum.Duplicated += len(res.Duplicated)
			sum.Pending += len(res.Pending)
			sum.Repaired += len(res.Repaired)
			sum.RepairRejected += len(res.RepairRejected)
			if !res.Clean() {
				r.Differences = append(r.Differences, res)
			}
		}
		r.Sinks = append(r.Sinks, sum)
	}
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the summary table and the submissions that differ.
func (r *Report) WriteText(w io.Writer) {
	span := func(t time.Time, zero string) string {
		if t.IsZero() {
			return zero
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "reconcile %s .. %s: %d enriched records, %d submissions checked in %s\n",
		span(r.From, "earliest"), span(r.To, "now"), r.Records, r.Submissions, r.Elapsed.Round(time.Millisecond))
	if r.Undecodable+r.Unkeyed > 0 {
		fmt.Fprintf(w, "skipped: %d records that did not decode, %d with neither submit_id nor trace id\n", r.Undecodable, r.Unkeyed)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tEXPECTED\tFOUND\tDEAD-LETTERED\tMISSING\tEXTRA\tDUPLICATED\tPENDING\tREPAIRED\tREPAIR-REJECTED")
	for _, s := range r.Sinks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Sink, s.Expected, s.Found, s.DeadLettered, s.Missing, s.Extra, s.Duplicated, s.Pending, s.Repaired, s.RepairRejected)
	}
	tw.Flush()
	if r.Clean() {
		fmt.Fprintln(w, "every destination holds exactly what logweave.enriched says it should")
		return
	}
	fmt.Fprintln(w, "\nsubmissions that differ:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBMISSION\tSINK\tMISSING\tEXTRA\tDUPLICATED\tPENDING\tREPAIRED\tRECORD IDS")
	for _, d := range r.Differences {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Submission, d.Sink, len(d.Missing), len(d.Extra), len(d.Duplicated), len(d.Pending), len(d.Repaired), sample(d))
	}
	tw.Flush()
	var pending int
	for _, s := range r.Sinks {
		pending += s.Pending
	}
	if pending > 0 {
		fmt.Fprintln(w, "pending records are not committed by the sink's group yet: run again later, or end --to earlier")
	}
}

// sample names the first few differing record ids.
func sample(d *SinkResult) string {
	var parts []string
	add := func(what string, ids []string) {
		for _, id := range ids {
			if len(parts) == 3 {
				return
			}
			parts = append(parts, what+" "+id)
		}
	}
	add("missing", d.Missing)
	add("extra", d.Extra)
	add("duplicated", d.Duplicated)
	add("pending", d.Pending)
	add("rejected", d.RepairRejected)
	return strings.Join(parts, ", ")
}
