package main

import (
	"bytes"
	"testing"

	"github.com/logweave/logweave/testkit/esfake"
)

// find's exit status: 2 without a query (a usage error), 1 when nothing
// matches, with "no documents found" printed.
func TestFind_ExitCodes(t *testing.T) {
	srv := esfake.New()
	defer srv.Close()
	for _, tc := range []struct {
		args       []string
		want       int
		wantStdout string
	}{
		{[]string{"find", "--es", srv.URL}, 2, ""},
		{[]string{"find", "--es", srv.URL, "--submit", "nope"}, 1, "no documents found\n"},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(tc.args, &stdout, &stderr); got != tc.want || stdout.String() != tc.wantStdout {
			t.Errorf("logweave %v: exit %d, stdout %q; want %d, %q (stderr: %s)", tc.args, got, stdout.String(), tc.want, tc.wantStdout, stderr.String())
		}
	}
}
