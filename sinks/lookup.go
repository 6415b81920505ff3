package sinks

import (
	"context"
	"errors"
	"time"
)

// Lookup finds what a destination holds of one submission; `logweave
// reconcile` compares it with what logweave.enriched says the destination
// must hold. A destination type offers it through its factory
// (WithLookup).
type Lookup interface {
	// Lookup returns every copy the destination holds of the records of
	// q's submission: a record_id twice means a duplicate.
	Lookup(ctx context.Context, q LookupQuery) ([]Found, error)
}

// LookupQuery is one submission's lookup.
type LookupQuery struct {
	// Field and Value select the submission: submit_id, or trace_id for
	// records that carry no submit_id.
	Field, Value string
	// Expected are the records the destination should hold (their routed
	// destinations say where: index, labels, tenant).
	Expected []*Record
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

// LookupOptions are the settings of a lookup that are not in the sink's
// section.
type LookupOptions struct {
	// Index is the index pattern searched, for destinations with indices
	// (Elasticsearch), e.g. logweave-*: a record routed elsewhere by an
	// old route is found there too.
	Index string
}

// ErrNoLookup is returned by Factory.NewLookup for a destination type
// records cannot be looked up in.
var ErrNoLookup = errors.New("records cannot be looked up in this destination type")
