// Package sinks is the runtime every logweave destination runs on: one
// member of the consumer group logweave-sink-<name> on logweave.enriched,
// with a goroutine per assigned partition that batches records, asks the
// Sink to write them, retries what failed transiently, dead-letters what
// failed for good, and commits a partition only up to the last record that,
// with every record before it, is durably written or dead-lettered.
//
// A destination implements Sink (see docs/adding-a-sink.md); the runtime
// owns everything else.
package sinks
