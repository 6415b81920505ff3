package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/sinks/file"
)

// TestAddingASink_NamesExist keeps docs/adding-a-sink.md true to the code:
// the files of the worked example exist, its factory is the code of
// sinks/file, the list it tells you to extend is this binary's, and the
// user's example entry loads.
func TestAddingASink_NamesExist(t *testing.T) {
	doc := readRepoFile(t, "docs/adding-a-sink.md")
	for _, f := range []string{"config.go", "factory.go", "metrics.go", "file.go", "metrics_test.go", "file_timing_test.go"} {
		if !strings.Contains(doc, "`"+f+"`") {
			t.Errorf("the page does not name %s", f)
		}
		if _, err := os.Stat(filepath.Join("../../sinks/file", f)); err != nil {
			t.Errorf("the page names sinks/file/%s: %v", f, err)
		}
	}
	// Every line of the factory shown on the page is a line of the code.
	code := readRepoFile(t, "sinks/file/factory.go")
	snippet := regexp.MustCompile("(?s)```go\n(  func NewFactory.*?)```").FindStringSubmatch(doc)
	if snippet == nil {
		t.Fatal("the page shows no factory")
	}
	for _, l := range strings.Split(strings.TrimSpace(snippet[1]), "\n") {
		if l = strings.TrimSpace(l); !strings.Contains(code, l) {
			t.Errorf("the page's factory line %q is not in sinks/file/factory.go", l)
		}
	}
	comp := readRepoFile(t, "cmd/logweave/components.go")
	for _, name := range []string{"sinkTypes()", "cmd/logweave/components.go", "sinks.Factories{file.NewFactory(), elasticsearch.NewFactory(), loki.NewFactory()",
		"sinks.NewFactory", "sinks.Settings", "sinks.PartitionReleaser", "sinks.WithLookup", "sinks/elasticsearch/lookup.go", "sinks/loki/lookup.go", "document.Append"} {
		if !strings.Contains(doc, name) {
			t.Errorf("the page does not mention %s", name)
		}
	}
	if !strings.Contains(comp, "func sinkTypes() sinks.Factories") || !strings.Contains(comp, "sinks.Factories{file.NewFactory(), elasticsearch.NewFactory(), loki.NewFactory()}") {
		t.Errorf("components.go does not hold the list the page shows")
	}
	// The user's entry loads, with the file sink's defaults under it.
	entry := regexp.MustCompile("(?s)```yaml\n(sinks:.*?)```").FindStringSubmatch(doc)
	if entry == nil {
		t.Fatal("the page shows no sinks: entry")
	}
	cfg := config.Default(sinkTypes())
	if err := config.Parse([]byte(entry[1]), &cfg, os.Getenv); err != nil {
		t.Fatal(err)
	}
	sc, ok := cfg.Sink("archive")
	fc, _ := sc.Settings.(*file.Config)
	if !ok || fc == nil || fc.Dir != "/var/lib/logweave/archive" || fc.MaxBytes != file.Default().MaxBytes || sc.Start != "2026-11-01T00:00:00Z" {
		t.Errorf("the page's entry loads as %+v", sc)
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
