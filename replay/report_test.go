package replay

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logweave/logweave/testkit/esfake"
)

// The report comes from the sink runtime's Stats: a second job over the
// same window into the same index delivers every record again, each one a
// duplicate the destination already held. The job's runtime logs through
// the logger given.
func TestReplay_ReportCountsDuplicatesAndLogs(t *testing.T) {
	_, base := setup(t)
	srv := esfake.New()
	defer srv.Close()
	if rep, err := Run(context.Background(), options(t, srv, base, "d1")); err != nil || rep.Delivered != 40 || rep.Duplicates != 0 {
		t.Fatalf("first job: %s, %v; want 40 delivered, no duplicates", rep, err)
	}
	// A file: safe for the runtime's concurrent writers, read after Run.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "replay.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	o := options(t, srv, base, "d2")
	o.Logger = slog.New(slog.NewTextHandler(logFile, nil))
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 40 || rep.Duplicates != 40 || rep.DeadLettered != 0 || rep.Skipped != 0 {
		t.Errorf("second job: %s; want 40 delivered, all 40 duplicates", rep)
	}
	if n := len(srv.Docs("replay-idx")); n != 40 {
		t.Errorf("%d documents, want 40", n)
	}
	if !strings.Contains(string(logs), "replay=d2") || !strings.Contains(string(logs), `msg="partition assigned"`) {
		t.Errorf("no log line of the job's sink runtime:\n%.1000s", string(logs))
	}
}
