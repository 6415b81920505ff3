//go:build !chaos

package sinks

// testSkipWrite is a fault the chaos harness (test/fleet) compiles in with
// the chaos build tag to prove it notices a broken sink. Builds without the
// tag, every build users run, never skip anything.
func testSkipWrite(*Record) bool { return false }
