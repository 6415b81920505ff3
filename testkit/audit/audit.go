// Package audit computes, from a workload manifest and sampling rules, what
// the pipeline must keep, so end-to-end tests can compare a destination's
// contents with the truth exactly.
package audit

import (
	"github.com/logweave/logweave/enrich"
	"github.com/logweave/logweave/gen"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Expected returns the number of records each submission must have kept
// under rules, for manifests of workloads whose truth matches the default
// tail rules (errors, timeouts over the judge threshold, crash markers).
// Submissions with nothing kept are absent.
func Expected(entries []gen.ManifestEntry, rules *enrich.Rules) map[string]int {
	return ExpectedKind(entries, rules, "")
}

// ExpectedKind is Expected counting only records of kind ("log" or
// "span"; "" for both).
func ExpectedKind(entries []gen.ManifestEntry, rules *enrich.Rules, kind string) map[string]int {
	out := map[string]int{}
	for _, e := range entries {
		tail := e.Truth.Error || e.Truth.Timeout || e.Truth.Crash != ""
		u := enrich.SampleFraction(e.SubmitID)
		n := 0
		for _, rc := range e.Records {
			if kind != "" && rc.Kind != kind {
				continue
			}
			if tail {
				n += rc.Count
				continue
			}
			rank := v1.LevelRank(rc.Level)
			if rc.Kind == "span" {
				rank = v1.RankInfo // spans of submissions without errors sample like info
			}
			if u < rules.HeadRate(rank, rc.Service) {
				n += rc.Count
			}
		}
		if n > 0 {
			out[e.SubmitID] = n
		}
	}
	return out
}

// Total sums the expected records.
func Total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
