//go:build chaos

package sinks

import (
	"hash/fnv"
	"os"
)

// testFault is read once at startup. It exists only in binaries built with
// the chaos build tag (the harness in test/fleet builds one to prove its
// audit fails on a broken sink); release builds have testfault_off.go.
var testFault = os.Getenv("LOGWEAVE_TEST_FAULT")

// testSkipWrite, with LOGWEAVE_TEST_FAULT=ack-without-write, reports about
// one record in 50 (chosen by record_id, so every member and retry agrees)
// delivered without writing it: the sink commits past records it never
// wrote, which is what committing before writing loses on a crash.
func testSkipWrite(r *Record) bool {
	if testFault != "ack-without-write" {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(r.Enriched.GetRecordId()))
	return h.Sum32()%50 == 0
}
