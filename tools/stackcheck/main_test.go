package stackcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// root is the repository's top directory.
const root = "../.."

// binary is logweave built by the Dockerfile's build command (make build),
// outside Docker, once for every test.
var binary string

const (
	stampVersion  = "v0.0.0-stackcheck"
	stampRevision = "5tackc4eck"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stackcheck")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	abs, _ := filepath.Abs(dir)
	cmd := exec.Command("make", "build", "BIN="+abs, "VERSION="+stampVersion, "REVISION="+stampRevision)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "make build (the Dockerfile's build command) failed: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binary = filepath.Join(abs, "logweave")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
