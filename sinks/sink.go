package sinks

import (
	"context"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Record is one enriched record routed to a sink.
type Record struct {
	// Enriched is the decoded record. Its strings and bytes point into
	// Value (v1.UnmarshalUnsafe: half the allocations of a copying
	// decode), and the message itself is reused by the partition's next
	// batch: a sink must not keep it past the batch, and must clone
	// (strings.Clone) any string or bytes it keeps (a map of ids, a
	// cache), or it would keep the whole fetched buffer in memory and see
	// it overwritten.
	Enriched *v1.EnrichedRecord
	// Dest is where the router sends it for this sink (index, labels,
	// metadata, tenant).
	Dest router.Destination
	// Value is the record as read from Kafka.
	Value []byte
	// Position in the enriched topic.
	Topic     string
	Partition int32
	Offset    int64
}

// Outcome is what happened to one record of a write.
type Outcome uint8

// Outcomes of a write, per record.
const (
	// Delivered: durably written (or already there: a duplicate of our
	// own id counts as delivered).
	Delivered Outcome = iota
	// Retry: a transient failure (429, 5xx, timeout); the runtime retries
	// the record with backoff.
	Retry
	// Reject: a terminal failure (mapping error, invalid labels, too old);
	// the runtime dead-letters the record and moves on.
	Reject
)

// Result is the outcome of one record.
type Result struct {
	Outcome Outcome
	// Reason classifies a rejection or retry for metrics and the DLQ
	// header logweave.reason, e.g. "mapping", "too_old", "rate_limited".
	Reason string
	// Err says what happened, for logs and the DLQ header logweave.error.
	Err error
}

// Ok is the result of a delivered record.
func Ok() Result { return Result{Outcome: Delivered} }

// ReasonDuplicate is the Reason of a Duplicate result.
const ReasonDuplicate = "duplicate"

// Duplicate is the result of a record the destination already held under
// its own id (Elasticsearch's 409 on create): delivered, and counted in
// Stats.Duplicates.
func Duplicate() Result { return Result{Outcome: Delivered, Reason: ReasonDuplicate} }

// RetryLater is the result of a transiently failed record.
func RetryLater(reason string, err error) Result {
	return Result{Outcome: Retry, Reason: reason, Err: err}
}

// Rejected is the result of a record that can never be written.
func Rejected(reason string, err error) Result {
	return Result{Outcome: Reject, Reason: reason, Err: err}
}

// Sink is a destination.
//
// Write is called concurrently from one goroutine per partition, each with
// its own batch, so implementations must be safe for concurrent use. It
// writes the batch and returns exactly one Result per record, in order. It
// must honor ctx: when ctx is done it returns promptly, reporting records it
// could not confirm as Retry. Writes must be idempotent per record_id,
// because after a crash or rebalance the runtime delivers again every
// record after the last committed offset.
//
// A non-nil error is fatal for the whole sink (bad credentials, a
// destination that refuses us outright): the runtime stops without
// committing the batch and returns the error, instead of retrying in a hot
// loop.
type Sink interface {
	Write(ctx context.Context, batch []*Record) ([]Result, error)
	// Close releases the sink's resources after the last Write.
	Close() error
}

// PartitionReleaser is implemented by sinks that keep per-partition state
// which must not outlive this member's ownership of the partition, such as
// the file sink's open file and lock. The runtime calls ReleasePartition
// when a partition is revoked or lost, or the runner stops, after the
// partition's last Write returned; if the partition comes back, its next
// Write starts afresh.
type PartitionReleaser interface {
	ReleasePartition(partition int32) error
}

// DestinationNeeder is implemented by sinks that read only some parts of
// Record.Dest: the router then leaves the others empty (their rendering,
// labels and metadata above all, is most of routing's cost). A sink
// without it gets every part.
type DestinationNeeder interface {
	DestinationNeeds() router.Need
}

// BacklogWriter is implemented by sinks whose cost is per write more than
// per record, such as the file sink (one fsync per write). When more than
// a batch is queued (the destination was slower than the records came),
// the runtime hands such a sink up to four batches (4 x batch.max_records,
// still within batch.max_bytes) in one write: a slow fsync makes the next
// write larger instead of holding the partition to one batch per fsync.
type BacklogWriter interface {
	WritesBacklog() bool
}
