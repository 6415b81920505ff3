// Package gen is logweave's workload generator: it behaves like an online
// judge. Users make submissions with increasing sequence numbers; each
// submission is a trace with a root span and compile, judge, score and
// feedback spans in different services, with 2-10 logs per stage at mixed
// levels. Configurable shares of submissions fail, time out, run slow or
// crash. The same seed always plans the same workload.
//
// It sends through the stock OpenTelemetry Go SDK exporters (or NDJSON for
// logs) to an ingest URL and writes a manifest, one JSON line per
// submission with its record counts and the ground truth of what went
// wrong, which end-to-end audits compare sinks against.
package gen
