// Package enrich is the enricher: a member of the consumer group
// logweave-enrich that reads logweave.raw, joins every log to the span it ran
// in, decides per submission what to keep (tail rules, evaluated as records
// arrive so that a failing submission streams out at once; consistent head
// sampling otherwise) and writes logweave.enriched in Kafka transactions
// together with its offsets, exactly once.
//
// Kafka is the write-ahead log of the sampler: a partition is committed only
// up to the oldest record of an undecided submission, and the commit
// metadata (meta.go) lets a new owner find what is already out. The files
// follow the responsibilities: enricher.go (the loop and bounded runs),
// processor.go and state.go (join, sampling, live keeps, trace links, late
// upgrades; no Kafka), txn.go (transactions, recovery), upgrade.go (re-reads
// for late upgrades), rules.go (the rules file), config.go, metrics.go.
// docs/enrich.md describes the behaviour and its bounds.
package enrich
