// Package logweavev1 holds the protobuf records logweave writes to Kafka:
// Envelope on logweave.raw and EnrichedRecord on logweave.enriched.
//
// The *.pb.go files are generated from the *.proto files beside them by
// `make proto` and must never be edited by hand; TestGeneratedCodeIsFresh
// fails when they are stale.
package logweavev1

// SchemaVersion is the version of these messages that this build writes in
// Envelope.schema_version and EnrichedRecord.schema_version. Bump it when a
// change needs readers to behave differently; adding fields does not.
const SchemaVersion = 1
