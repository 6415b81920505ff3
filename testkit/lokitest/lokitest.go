// Package lokitest runs a real Loki, built from its Go module by
// `make loki` (tools/loki), on 127.0.0.1 for tests: filesystem storage,
// in-memory ring, structured metadata allowed.
package lokitest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logweave/logweave/testkit/proccpu"
)

// Loki is a running Loki.
type Loki struct {
	URL  string
	cmd  *exec.Cmd
	dir  string
	conf string
	log  *os.File
	t    testing.TB

	cpuMu   sync.Mutex
	cpuDone float64 // CPU seconds of the runs that ended
}

// Binary returns the path of the Loki binary, or skips the test (fails it
// when LOGWEAVE_REQUIRE_LOKI=1, as in CI) when it is not built.
func Binary(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", ".bin", "loki")
	if p := os.Getenv("LOGWEAVE_LOKI_BIN"); p != "" {
		bin = p
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("LOGWEAVE_REQUIRE_LOKI") == "1" {
			t.Fatalf("no Loki binary at %s and LOGWEAVE_REQUIRE_LOKI=1: run make loki", bin)
		}
		t.Skipf("no Loki binary at %s: run `make loki` (builds Loki from its Go module) to run the tests against a real Loki", bin)
	}
	return bin
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Option changes the configuration of a Loki started by Start.
type Option func(*options)

type options struct {
	limits, ingester []string
	multiTenant      bool
}

// MultiTenant turns authentication on (auth_enabled: true): every request
// must name its tenant in X-Scope-OrgID, and tenants see only their own
// entries. Without it Loki puts everything in the tenant "fake" whatever
// the header says.
func MultiTenant() Option {
	return func(o *options) { o.multiTenant = true }
}

// Limits adds settings to limits_config, e.g. "ingestion_rate_mb: 0.01",
// to provoke a refusal. Settings the base configuration has
// (allow_structured_metadata, reject_old_samples,
// reject_old_samples_max_age) cannot be repeated.
func Limits(settings ...string) Option {
	return func(o *options) { o.limits = append(o.limits, settings...) }
}

// Ingester adds settings to the ingester section, e.g.
// "chunk_block_size: 2048".
func Ingester(settings ...string) Option {
	return func(o *options) { o.ingester = append(o.ingester, settings...) }
}

func indent(settings []string) string {
	var b strings.Builder
	for _, s := range settings {
		b.WriteString("  " + s + "\n")
	}
	return b.String()
}

// Start starts Loki with a fresh data directory and waits for /ready.
func Start(t testing.TB, opts ...Option) *Loki {
	t.Helper()
	Binary(t) // skips early when there is none
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	httpPort, grpcPort := freePort(t), freePort(t)
	conf := filepath.Join(dir, "loki.yaml")
	cfg := fmt.Sprintf(`auth_enabled: %[6]v
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %[1]d
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %[2]d
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: %[3]s/data
  storage:
    filesystem:
      chunks_directory: %[3]s/data/chunks
      rules_directory: %[3]s/data/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
  reject_old_samples: true
  reject_old_samples_max_age: 168h
%[4]singester:
  # The WAL on the data directory, as in production (deploy/loki): without
  # it a restarted Loki loses entries it acknowledged.
  wal:
    enabled: true
    dir: %[3]s/data/wal
    flush_on_shutdown: true
  lifecycler:
    # The ring is in memory and has one member: nothing to wait for
    # (default 15s, for rolling updates of a cluster).
    min_ready_duration: 0s
%[5]sanalytics:
  reporting_enabled: false
memberlist:
  bind_addr: [127.0.0.1]
`, httpPort, grpcPort, dir, indent(o.limits), indent(o.ingester), o.multiTenant)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &Loki{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), dir: dir, conf: conf, t: t}
	l.start()
	t.Cleanup(l.Stop)
	return l
}

func (l *Loki) start() {
	l.t.Helper()
	log, err := os.OpenFile(filepath.Join(l.dir, "loki.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		l.t.Fatal(err)
	}
	l.log = log
	cmd := exec.Command(Binary(l.t), "-config.file="+l.conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("starting loki: %v", err)
	}
	l.cpuMu.Lock()
	l.cmd = cmd
	l.cpuMu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(l.URL + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(l.dir, "loki.log"))
	l.t.Fatalf("loki not ready within 90s; log:\n%s", lastLines(string(b), 30))
}

// Stop stops Loki (SIGTERM, then kill).
func (l *Loki) Stop() {
	if l.cmd == nil || l.cmd.Process == nil {
		return
	}
	l.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		l.cmd.Process.Kill()
		<-done
	}
	l.cpuMu.Lock()
	l.cpuDone += proccpu.Exited(l.cmd)
	l.cmd = nil
	l.cpuMu.Unlock()
	l.log.Close()
}

// Restart stops and starts Loki on the same data directory.
func (l *Loki) Restart() {
	l.Stop()
	l.start()
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
