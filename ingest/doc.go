// Package ingest receives logs and spans over OTLP/HTTP (protobuf and JSON),
// OTLP/gRPC and NDJSON, maps them to schemas' Envelope, derives each record's
// content-based record_id and produces them to logweave.raw keyed by
// submit_id.
//
// A request is answered 2xx only after Kafka acknowledged every record of
// it; when the broker is unreachable or the producer buffer is full the
// answer is 503 or 429 with Retry-After (over gRPC UNAVAILABLE or
// RESOURCE_EXHAUSTED with RetryInfo), so a client that retries loses
// nothing, and the content-based record_id makes the retry's records
// identical to the first attempt's.
package ingest
