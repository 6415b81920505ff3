package logweavev1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func sameDecodeUnsafe(t *testing.T, name string, b []byte, fast, slow v1.UnsafeMessage) {
	t.Helper()
	b = bytes.Clone(b) // the fuzzer's input must not be aliased past the call
	errF := v1.UnmarshalUnsafe(b, fast)
	errS := proto.Unmarshal(b, slow)
	if (errF == nil) != (errS == nil) || (errF != nil && errF.Error() != errS.Error()) {
		t.Fatalf("%s: UnmarshalUnsafe error %v, proto.Unmarshal error %v", name, errF, errS)
	}
	if errF == nil && !proto.Equal(fast, slow) {
		t.Fatalf("%s: UnmarshalUnsafe and proto.Unmarshal decode differently:\n%v\n%v", name, fast, slow)
	}
}

func TestUnmarshalUnsafe_MatchesProto(t *testing.T) {
	for name, b := range decodeCases(t) {
		sameDecodeUnsafe(t, name, b, &v1.Envelope{}, &v1.Envelope{})
	}
	sameDecodeUnsafe(t, "enriched", mustMarshal(t, sampleEnriched()), &v1.EnrichedRecord{}, &v1.EnrichedRecord{})
}

// The decoded strings point into the buffer: what a caller keeps must be
// cloned. This pins the aliasing the callers' own tests rely on.
func TestUnmarshalUnsafe_AliasesTheBuffer(t *testing.T) {
	b := mustMarshal(t, sampleEnriched())
	var rec v1.EnrichedRecord
	if err := v1.UnmarshalUnsafe(b, &rec); err != nil {
		t.Fatal(err)
	}
	id := strings.Clone(rec.GetRecordId())
	if id == "" {
		t.Fatal("sample has no record id")
	}
	for i := range b {
		b[i] = 'x'
	}
	if rec.GetRecordId() == id {
		t.Fatalf("record id %q survived overwriting the buffer: not zero-copy", id)
	}
}

func FuzzUnmarshalUnsafe(f *testing.F) {
	for _, b := range decodeCases(f) {
		f.Add(b)
	}
	f.Add(mustMarshal(f, sampleEnriched()))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameDecodeUnsafe(t, "envelope", b, &v1.Envelope{}, &v1.Envelope{})
		sameDecodeUnsafe(t, "enriched", b, &v1.EnrichedRecord{}, &v1.EnrichedRecord{})
	})
}

func BenchmarkUnmarshalUnsafe(b *testing.B) {
	wire := mustMarshal(b, sampleEnriched())
	for _, tc := range []struct {
		name   string
		decode func([]byte, *v1.EnrichedRecord) error
	}{
		{"copy", func(b []byte, m *v1.EnrichedRecord) error { return v1.Unmarshal(b, m) }},
		{"unsafe", func(b []byte, m *v1.EnrichedRecord) error { return v1.UnmarshalUnsafe(b, m) }},
	} {
		b.Run("enriched/"+tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.decode(wire, &v1.EnrichedRecord{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGeneratedUnsafeCodeIsFresh regenerates *_vtunsafe.gen.go
// (protoc-gen-go-vtproto, features=unmarshal_unsafe, the output renamed so
// that TestGeneratedCodeIsFresh's *.pb.go count is unchanged) and fails
// when the committed files differ. Skips without protoc, like it.
func TestGeneratedUnsafeCodeIsFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("LOGWEAVE_REQUIRE_PROTOC") == "1" {
			t.Fatal("protoc not found and LOGWEAVE_REQUIRE_PROTOC=1: apt-get install protobuf-compiler")
		}
		t.Skip("protoc not found: apt-get install protobuf-compiler to check the generated code")
	}
	tmp := t.TempDir()
	vtplugin := filepath.Join(tmp, "protoc-gen-go-vtproto")
	build := exec.Command("go", "build", "-o", vtplugin, "github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-go-vtproto: %v\n%s", err, out)
	}
	protos, err := filepath.Glob("*.proto")
	if err != nil || len(protos) == 0 {
		t.Fatalf("no .proto files found: %v", err)
	}
	args := []string{"-I", "../..", "--plugin=protoc-gen-go-vtproto=" + vtplugin, "--go-vtproto_out=" + tmp,
		"--go-vtproto_opt=paths=source_relative,features=unmarshal_unsafe"}
	for _, p := range protos {
		args = append(args, filepath.Join("logweave", "v1", p))
	}
	if out, err := exec.Command(protoc, args...).CombinedOutput(); err != nil {
		t.Fatalf("running protoc: %v\n%s", err, out)
	}
	for _, p := range protos {
		base := p[:len(p)-len(".proto")]
		want, err := os.ReadFile(filepath.Join(tmp, "logweave", "v1", base+"_vtproto.pb.go"))
		if err != nil {
			t.Fatalf("reading regenerated %s: %v", base, err)
		}
		got, err := os.ReadFile(base + "_vtunsafe.gen.go")
		if err != nil {
			t.Fatalf("%s_vtunsafe.gen.go is missing: %v", base, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s_vtunsafe.gen.go is stale: regenerate it as this test does", base)
		}
	}
}
