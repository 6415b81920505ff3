package stackcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSinkTypes_MatchTheBinary: the sink types these tests build (their
// metrics, their configuration sections) are the ones the logweave binary
// lists in cmd/logweave/components.go, as its configuration check reports
// them for an unknown type.
func TestSinkTypes_MatchTheBinary(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "logweave.yaml")
	if err := os.WriteFile(cfg, []byte("kafka: {brokers: [127.0.0.1:1]}\nsinks: [{name: x, type: no-such-type}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "config", "check", "-c", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("config check accepted an unknown sink type:\n%s", out)
	}
	want := `sinks[0].type: "no-such-type" is not allowed (allowed: ` + strings.Join(sinkTypes.Types(), ", ") + ")"
	if !strings.Contains(string(out), want) {
		t.Errorf("the binary's sink types differ from these tests' list\n got: %s\nwant: %s", out, want)
	}
}
