package stackcheck

import (
	"bytes"
	"debug/elf"
	"os/exec"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type stage struct {
	from, name string
	cmds       []*parser.Node
}

func dockerfileStages(t *testing.T) []stage {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(repoFile(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("parsing Dockerfile: %v", err)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			s := stage{from: n.Next.Value}
			if a := n.Next.Next; a != nil && strings.EqualFold(a.Value, "as") && a.Next != nil {
				s.name = a.Next.Value
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			continue // ARG before the first FROM
		}
		stages[len(stages)-1].cmds = append(stages[len(stages)-1].cmds, n)
	}
	return stages
}

func args(n *parser.Node) []string {
	var out []string
	for a := n.Next; a != nil; a = a.Next {
		out = append(out, a.Value)
	}
	return out
}

func TestDockerfile_StaticNonRootBuildOfCI(t *testing.T) {
	stages := dockerfileStages(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final stage", len(stages))
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", final.from)
	}
	var user string
	var copied bool
	for _, c := range final.cmds {
		switch strings.ToLower(c.Value) {
		case "user":
			user = args(c)[0]
		case "copy":
			copied = copied || strings.Contains(c.Original, "--from=build")
		case "run":
			t.Errorf("the final stage runs %q: it has no shell", c.Original)
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	if !copied {
		t.Error("the final stage copies nothing from the build stage")
	}
	var build *stage
	for i := range stages {
		if stages[i].name == "build" {
			build = &stages[i]
		}
	}
	if build == nil {
		t.Fatal("no stage named build")
	}
	var cgoOff, makeBuild bool
	for _, c := range build.cmds {
		switch strings.ToLower(c.Value) {
		case "env":
			a := args(c)
			for i := 0; i+1 < len(a); i += 2 {
				cgoOff = cgoOff || (a[i] == "CGO_ENABLED" && a[i+1] == "0")
			}
		case "run":
			makeBuild = makeBuild || strings.HasPrefix(strings.Join(args(c), " "), "make build ")
		}
	}
	if !cgoOff || !makeBuild {
		t.Errorf("build stage: CGO_ENABLED=0 %v, runs make build %v", cgoOff, makeBuild)
	}
	// CI builds the same way.
	if !bytes.Contains(repoFile(t, ".ci/run"), []byte("\nmake build\n")) {
		t.Error(".ci/run does not run make build")
	}
	mk := string(repoFile(t, "Makefile"))
	for _, want := range []string{"CGO_ENABLED=0 go build", "-X main.version=$(VERSION)", "-X main.revision=$(REVISION)"} {
		if !strings.Contains(mk, want) {
			t.Errorf("Makefile's build lacks %q", want)
		}
	}
}

func TestDockerfile_BuildCommandWorksOutsideDocker(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("logweave version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), stampVersion) || !strings.Contains(string(out), stampRevision) {
		t.Errorf("logweave version printed %q, want the stamped %s and %s", out, stampVersion, stampRevision)
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader: it is not static (CGO_ENABLED=0)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v", libs)
	}
}
