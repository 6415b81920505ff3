package logweavev1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the Go code from the .proto files with
// the pinned tools (protoc-gen-go for *.pb.go, protoc-gen-go-vtproto for the
// decoders in *_vtproto.pb.go) and fails when the committed files differ. It
// needs protoc (Debian protobuf-compiler); without it the test skips, unless
// LOGWEAVE_REQUIRE_PROTOC=1 (set by .ci/run), where it fails.
func TestGeneratedCodeIsFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("LOGWEAVE_REQUIRE_PROTOC") == "1" {
			t.Fatal("protoc not found and LOGWEAVE_REQUIRE_PROTOC=1: apt-get install protobuf-compiler")
		}
		t.Skip("protoc not found: apt-get install protobuf-compiler to check the generated code")
	}
	tmp := t.TempDir()
	plugin := filepath.Join(tmp, "protoc-gen-go")
	// Built from go.mod's google.golang.org/protobuf, so the generator and the
	// runtime are always the same version.
	build := exec.Command("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-go: %v\n%s", err, out)
	}
	vtplugin := filepath.Join(tmp, "protoc-gen-go-vtproto")
	build = exec.Command("go", "build", "-o", vtplugin, "github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-go-vtproto: %v\n%s", err, out)
	}
	protos, err := filepath.Glob("*.proto")
	if err != nil || len(protos) == 0 {
		t.Fatalf("no .proto files found: %v", err)
	}
	args := []string{"-I", "../..", "--plugin=protoc-gen-go=" + plugin, "--go_out=" + tmp, "--go_opt=paths=source_relative",
		"--plugin=protoc-gen-go-vtproto=" + vtplugin, "--go-vtproto_out=" + tmp, "--go-vtproto_opt=paths=source_relative,features=unmarshal"}
	for _, p := range protos {
		args = append(args, filepath.Join("logweave", "v1", p))
	}
	gen := exec.Command(protoc, args...)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("running protoc: %v\n%s", err, out)
	}
	for _, p := range protos {
		for _, suffix := range []string{".pb.go", "_vtproto.pb.go"} {
			name := p[:len(p)-len(".proto")] + suffix
			want, err := os.ReadFile(filepath.Join(tmp, "logweave", "v1", name))
			if err != nil {
				t.Fatalf("reading regenerated %s: %v", name, err)
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("%s is missing: run make proto", name)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run make proto and commit the result", name)
			}
		}
	}
	committed, _ := filepath.Glob("*.pb.go")
	if len(committed) != 2*len(protos) {
		t.Errorf("%d .pb.go files for %d .proto files: remove generated files whose .proto is gone", len(committed), len(protos))
	}
}
