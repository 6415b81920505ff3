package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the logweave command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "logweave-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "logweave")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building logweave: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// proc is a logweave subprocess whose stdout lines are collected.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "LOGWEAVE_CONFIG=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		// Kill is a no-op error once the process was waited for; reading
		// cmd.ProcessState here would race with Wait.
		cmd.Process.Kill() //nolint:errcheck
	})
	return p
}

// waitLine returns the first stdout line with the prefix, or fails.
func (p *proc) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("process exited before printing %q; stderr:\n%s", prefix, p.stderr.String())
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		case <-timeout:
			t.Fatalf("no line %q within 30s; stderr:\n%s", prefix, p.stderr.String())
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.lines { //nolint:revive // drain
		}
	}()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30s of SIGTERM; stderr:\n%s", p.stderr.String())
	}
}

func TestRun_UnknownCommand(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `unknown command "frobnicate"`) || !strings.Contains(errb.String(), "broker") {
		t.Errorf("stderr = %q", errb.String())
	}
}

func TestConfigCheck_RedactsAndReports(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("kafka: {brokers: [k:9092], sasl: {mechanism: PLAIN, username: u, password: topsecret}}\n"), 0o600)
	var out, errb strings.Builder
	if code := run([]string{"config", "check", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "topsecret") || !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("output:\n%s", out.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("kafka: {brokers: []}\nlog: {level: loud}\n"), 0o600)
	out.Reset()
	errb.Reset()
	if code := run([]string{"config", "check", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d for a bad file", code)
	}
	for _, want := range []string{"log.level: \"loud\" is not allowed", "kafka.brokers: at least one broker required"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// -h on any command exits 0 (help asked for), a bad flag 2, and --version
// prints the version (issue 14 item 7).
func TestRun_HelpVersionAndExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--version"}, 0},
		{[]string{"-h"}, 0},
		{[]string{"ingest", "-h"}, 0},
		{[]string{"enrich", "--help"}, 0},
		{[]string{"config", "check", "-h"}, 0},
		{[]string{"offsets", "set", "-h"}, 0},
		{[]string{"ingest", "--no-such-flag"}, 2},
		{[]string{"no-such-command"}, 2},
		{[]string{"ingest", "--config", "/no/such/file.yaml"}, 2},
		{[]string{"config", "check", "--config", "/no/such/file.yaml"}, 1},
	} {
		var out, errb strings.Builder
		if got := run(c.args, &out, &errb); got != c.want {
			t.Errorf("logweave %v: exit %d, want %d; stderr: %s", c.args, got, c.want, errb.String())
		}
		if c.args[0] == "--version" && !strings.HasPrefix(out.String(), "logweave ") {
			t.Errorf("--version printed %q", out.String())
		}
	}
}

func TestSplitOn_TrimsAndDropsEmptyParts(t *testing.T) {
	got := splitOn(" compression: lz4; linger: 10ms ;;", ";")
	want := []string{"compression: lz4", "linger: 10ms"}
	if !slices.Equal(got, want) {
		t.Fatalf("splitOn = %q, want %q", got, want)
	}
	if got := splitOn("", ";"); got != nil {
		t.Fatalf("splitOn of nothing = %q, want nil", got)
	}
}
