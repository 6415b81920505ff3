package reconcile

import (
	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
)

// Target is one sink to check.
type Target struct {
	// Name of the sink (the router's sink name, and the DLQ header
	// logweave.sink).
	Name string
	// Router routes the enriched records for this sink.
	Router *router.Router
	// Dest looks records up (the sink type's Factory.NewLookup).
	Dest sinks.Lookup
	// Writer re-drives missing records on repair: the sink's own
	// destination, idempotent per record_id. Nil: repair is not possible.
	Writer sinks.Sink
	// Group is the sink's consumer group; records at or after its
	// committed offsets are pending, not missing. Empty: logweave-sink-<Name>.
	Group string
	// BatchRecords bounds one repair write. Default 500.
	BatchRecords int
}

// target is a Target with its committed offsets.
type target struct {
	Target
	name      string
	router    *router.Router
	committed map[int32]int64
}
