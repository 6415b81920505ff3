// Package bench is logweave's process-level load tool (`logweave bench`).
//
// The micro-benchmarks beside the code measure in-memory paths; what a user
// pays for is the CPU of each running process on Kafka. bench starts the
// embedded broker (`logweave broker`) and then every role as its own
// process of the same binary, one after the other so that each has the
// machine to itself:
//
//  1. `logweave ingest`, fed a deterministic online-judge workload over
//     OTLP/HTTP protobuf until every request was answered;
//  2. `logweave enrich`, until its group's committed offsets reach the end
//     of logweave.raw (nothing pending, everything decided and written);
//  3. each sink (`logweave sink --name ...`: file, Elasticsearch against
//     testkit/esfake served by this process), until its group's lag on
//     logweave.enriched is 0.
//
// For each role it reads the child's CPU time (utime+stime of
// /proc/<pid>/stat) and peak RSS (VmHWM of /proc/<pid>/status) at the moment
// the role is drained, before stopping it, and prints records, CPU-seconds,
// wall time, records per CPU-second and peak RSS. For enrich it also
// samples the Go heap in use against logweave_enrich_pending_bytes.
//
// Every wait is bounded (Config.Timeout per role) and every child is
// stopped by its pid (SIGTERM, then SIGKILL after a grace).
package bench
