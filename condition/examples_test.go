package condition

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every condition shown to users compiles: the when:, completion: and
// match: (string) values of deploy/*.yaml and of the yaml code blocks of
// docs/*.md and README.md, and each line of the docs' ```condition blocks.
func TestExamples_Compile(t *testing.T) {
	yamls, _ := filepath.Glob("../deploy/*.yaml")
	docs, _ := filepath.Glob("../docs/*.md")
	docs = append(docs, "../README.md")
	n := 0
	check := func(where, src string) {
		t.Helper()
		n++
		if _, err := Compile(src); err != nil {
			t.Errorf("%s: %q: %v", where, src, err)
		}
	}
	for _, p := range yamls {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		conditionsInYAML(t, p, b, check)
	}
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range strings.Split(string(b), "```")[1:] {
			if i%2 == 1 {
				continue // text between blocks
			}
			info, body, _ := strings.Cut(block, "\n")
			switch strings.TrimSpace(info) {
			case "condition":
				for _, line := range strings.Split(body, "\n") {
					if line = strings.TrimSpace(line); line != "" {
						check(p, line)
					}
				}
			case "yaml":
				conditionsInYAML(t, p, []byte(body), check)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d examples found; the test is not reading what it should", n)
	}
}

func conditionsInYAML(t *testing.T, where string, b []byte, check func(where, src string)) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && (k.Value == "when" || k.Value == "completion" || k.Value == "match") && v.Value != "" {
					check(where, v.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
}
