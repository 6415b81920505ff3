// Package reconcile proves that Elasticsearch and Loki hold what they
// should: for every submission in a time window of logweave.enriched it
// compares what the topic says must exist in each destination (the records
// the router sends to the sink, minus those logweave.dlq says the sink
// dead-lettered) with what the destination returns, and reports missing,
// extra and duplicated records per submission. Repair re-drives missing
// records through the sink's own Write, which is idempotent per record_id,
// so repairing twice changes nothing.
//
// Records the sink's consumer group has not committed yet are reported as
// pending, not missing: a lagging sink is not a lossy one.
package reconcile
