package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/loki"
)

// ErrNotReconcilable is returned by NewDestination for a sink whose
// destination reconcile cannot look records up in.
var ErrNotReconcilable = errors.New("only elasticsearch and loki sinks can be reconciled")

// NewDestination returns the lookup of a sink from its destination section
// (sinks.Factory.DefaultConfig's type, decoded from the configuration):
// an Elasticsearch search over index (a pattern such as logweave-*), or
// Loki queries. Other sections: ErrNotReconcilable.
func NewDestination(section sinks.Section, index string) (Destination, error) {
	var (
		d   Destination
		err error
	)
	switch c := section.(type) {
	case *elasticsearch.Config:
		d, err = NewElasticsearch(*c, index)
	case *loki.Config:
		d, err = NewLoki(*c)
	default:
		err = ErrNotReconcilable
	}
	if err != nil {
		// Not d: a nil *Elasticsearch in a Destination would not be nil.
		return nil, err
	}
	return d, nil
}

// Destination looks up what a sink's destination holds for a submission.
type Destination interface {
	// Lookup returns every copy the destination holds of the records of
	// q's submission: a record_id twice means a duplicate.
	Lookup(ctx context.Context, q Query) ([]Found, error)
}

// Query is one submission's lookup.
type Query struct {
	// Field and Value select the submission: submit_id, or trace_id for
	// records that carry no submit_id.
	Field, Value string
	// Expected are the records the destination should hold (their routed
	// destinations say where: index, labels, tenant).
	Expected []*sinks.Record
	// From and To bound the event times searched, for destinations that
	// need a time range (Loki).
	From, To time.Time
}

// Found is one copy of a record in a destination.
type Found struct {
	RecordID string
	// Where says where the copy is (index, or tenant and stream).
	Where string
}

// Target is one sink to check.
type Target struct {
	// Name of the sink (the router's sink name, and the DLQ header
	// logweave.sink).
	Name string
	// Router routes the enriched records for this sink.
	Router *router.Router
	// Dest looks records up.
	Dest Destination
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
