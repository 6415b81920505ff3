// Package fleet is the chaos audit of logweave: it runs every role of the
// pipeline as its own process of the real logweave binary on one machine
// (loopback only), injects faults (kills, restarts, destination outages and
// misbehaving proxies, a broker restart, malformed requests), then counts
// what every destination really holds against what the workload's manifest
// and the sampling rules say must be there.
//
// The harness is a test behind the chaos build tag, so `go test ./...`
// does not run it:
//
//	make chaos   # the short run CI does (a few minutes)
//	make soak    # a longer run; see docs/operations.md
//
// Everything it starts is stopped by process group at the end, also on
// failure.
package fleet
