package bench

import (
	"fmt"
	"io"
	"runtime"
	"sort"
)

// WriteTable prints the results as a Markdown table, one row per role with
// the range over rounds ("min-max") where there are several.
func WriteTable(w io.Writer, cfg Config, results []Result) {
	fmt.Fprintf(w, "\n%d submissions (%d spans + %d logs each), %d per request, %d senders, %d partitions, %d round(s); %d CPUs\n\n",
		cfg.Submissions, len(stages)+1, len(stages)*cfg.LogsPerStage, cfg.BatchSubmissions, cfg.Senders, cfg.Partitions, cfg.Rounds, runtime.NumCPU())
	fmt.Fprintln(w, "| role | records | CPU-s | wall s | records per CPU-second | records per wall second | peak RSS MiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var order []string
	by := map[string][]Result{}
	for _, r := range results {
		if by[r.Role] == nil {
			order = append(order, r.Role)
		}
		by[r.Role] = append(by[r.Role], r)
	}
	for _, role := range order {
		rs := by[role]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", role,
			span(rs, func(r Result) float64 { return float64(r.Records) }, "%.0f"),
			span(rs, func(r Result) float64 { return r.CPU.Seconds() }, "%.2f"),
			span(rs, func(r Result) float64 { return r.Wall.Seconds() }, "%.2f"),
			span(rs, func(r Result) float64 { return r.PerCPUSecond() / 1000 }, "%.0fk"),
			span(rs, func(r Result) float64 { return float64(r.Records) / r.Wall.Seconds() / 1000 }, "%.0fk"),
			span(rs, func(r Result) float64 { return float64(r.PeakRSS >> 20) }, "%.0f"))
	}
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "\nround %d %s: %s", r.Round, r.Role, r.Note)
		}
	}
	fmt.Fprintln(w)
}

// span formats min-max of f over rs, or the one value.
func span(rs []Result, f func(Result) float64, format string) string {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	sort.Float64s(vs)
	lo, hi := fmt.Sprintf(format, vs[0]), fmt.Sprintf(format, vs[len(vs)-1])
	if lo == hi {
		return lo
	}
	return lo + "-" + hi
}
