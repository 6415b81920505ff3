// Package logweavev1 holds the protobuf records logweave writes to Kafka:
// Envelope on logweave.raw and EnrichedRecord on logweave.enriched.
//
// The *.pb.go files are generated from the *.proto files beside them by
// `make proto` and must never be edited by hand; TestGeneratedCodeIsFresh
// fails when they are stale. *_vtproto.pb.go are generated decoders
// (protoc-gen-go-vtproto, unmarshal only): read records with Unmarshal,
// which uses them and keeps proto.Unmarshal's verdicts. Records are still
// written with proto.Marshal (record ids hash its deterministic encoding).
package logweavev1

// SchemaVersion is the version of these messages that this build writes in
// Envelope.schema_version and EnrichedRecord.schema_version. Bump it when a
// change needs readers to behave differently; adding fields does not.
const SchemaVersion = 1
