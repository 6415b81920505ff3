package main

import (
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// docs/architecture.md lists every package of the module, and only those.
func TestArchitecture_PackageTableMatchesGoList(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "github.com/logweave/logweave/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var listed []string
	for _, l := range strings.Fields(string(out)) {
		if p := strings.TrimPrefix(strings.TrimPrefix(l, "github.com/logweave/logweave"), "/"); p != "" {
			listed = append(listed, p)
		}
	}
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "| package | owns |")
	table, _, _ = strings.Cut(table, "\n\n")
	documented := map[string]bool{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	var missing, extra []string
	for _, p := range listed {
		if !documented[p] {
			missing = append(missing, p)
		}
		delete(documented, p)
	}
	for p := range documented {
		extra = append(extra, p)
	}
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("docs/architecture.md's package table: missing %v, not a package %v", missing, extra)
	}
}
