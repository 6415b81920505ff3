// Package router decides, per enriched record and sink, whether the sink
// takes the record and how: the Elasticsearch index, the Loki labels and
// structured metadata, and the tenant. Routes come from configuration, are
// validated when loaded and can be swapped at run time without a restart.
//
// Routes are tried in order; for a given sink the first route that matches
// the record and lists the sink (or "*") decides. A route with drop: true
// makes the sink skip what it matches. A record no route takes is skipped
// by that sink.
package router
