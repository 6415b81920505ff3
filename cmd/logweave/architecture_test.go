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

// The stages (ingest, enrich, router, sinks and their subpackages) never
// import an internal package that imports a stage: internal/ below the
// stages is plumbing; only cmd/logweave may import what sits above them
// (internal/config). No directory cycle either way.
func TestArchitecture_StagesDoNotImportInternalsAboveThem(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/logweave/logweave/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/logweave/logweave/"
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, mod) {
				imports[pkg] = append(imports[pkg], strings.TrimPrefix(imp, mod))
			}
		}
	}
	isStage := func(p string) bool {
		for _, s := range []string{"ingest", "enrich", "router", "sinks", "condition"} {
			if p == s || strings.HasPrefix(p, s+"/") {
				return true
			}
		}
		return false
	}
	above := map[string]bool{} // internal packages that import a stage
	for p, imps := range imports {
		if !strings.HasPrefix(p, "internal/") {
			continue
		}
		for _, imp := range imps {
			if isStage(imp) {
				above[p] = true
			}
		}
	}
	if len(above) == 0 {
		t.Fatal("no internal package imports a stage: the check has nothing to check (internal/config holds the stages' sections)")
	}
	for p, imps := range imports {
		for _, imp := range imps {
			if above[imp] && p != "cmd/logweave" {
				t.Errorf("%s imports %s, which imports a stage: only cmd/logweave may", p, imp)
			}
		}
	}
}
