//go:build chaos

package fleet

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logweave/logweave/testkit/proccpu"
)

// proc is one OS process of the fleet. It can be killed and started again
// with the same arguments (same ports, same data directory).
type proc struct {
	name  string
	bin   string
	args  []string
	env   []string
	dir   string // log directory
	admin string // host:port of /readyz and /metrics; "" for none

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	starts  int
	metrics *lifetimeCounters // counters summed over every run of the process
	cpuDone float64           // CPU seconds of the runs that ended
}

// cpu returns the CPU seconds (user + system) the process used so far,
// over all its runs.
func (p *proc) cpu() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := p.cpuDone
	if p.cmd != nil {
		select {
		case <-p.done: // counted in cpuDone by the waiter
		default:
			total += proccpu.Running(p.cmd.Process.Pid)
		}
	}
	return total
}

// freePort is a loopback address free now, below the kernel's ephemeral
// port range when it can: the fleet's processes bind their ports seconds
// later (and again after every restart), and a port from that range (what
// ":0" gives) can meanwhile become the source port of any outgoing
// connection, the fleet's own Kafka clients included: a CI run failed with
// "bind: address already in use" for a sink's admin port that way.
func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	low := ephemeralLow()
	for i := 0; low > 10000 && i < 200; i++ {
		port := 10000 + rand.IntN(low-10000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return ln.Addr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (Linux
// default 32768; 0 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}

// start starts the process (again); its output is appended to
// <dir>/<name>.log. Each run is its own process group, so a kill reaches
// whatever it started.
func (p *proc) start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		t.Fatalf("%s: already running", p.name)
	}
	p.startLocked(t)
}

// ensureRunning starts the process unless it runs. A process that exited
// by itself is noted in exits (what it logged last) and started again, as
// a supervisor (systemd, Kubernetes) would.
func (p *proc) ensureRunning(t testing.TB, exits *[]string, mu *sync.Mutex) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return // running
		}
		mu.Lock()
		*exits = append(*exits, fmt.Sprintf("%s exited by itself at %s (%v): %s", p.name, time.Now().Format("15:04:05"),
			p.cmd.ProcessState, lastError(p.tail(40))))
		mu.Unlock()
		p.cmd = nil
	}
	p.startLocked(t)
}

// lastError returns the last error line of a log.
func lastError(log string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"level":"ERROR"`) {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}

func (p *proc) startLocked(t testing.TB) {
	log, err := os.OpenFile(filepath.Join(p.dir, p.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(log, "==== start %d at %s\n", p.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		p.mu.Lock()
		p.cpuDone += proccpu.Exited(cmd)
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	p.starts++
	if p.metrics != nil {
		p.metrics.newLife()
	}
}

// running reports whether the process is up.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop signals the process group and waits for it to exit; after grace it
// is killed. It returns how long the exit took.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) time.Duration {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return 0
	}
	began := time.Now()
	syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return time.Since(began)
}

// waitReady waits for the admin server's /readyz to answer 200.
func (p *proc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !p.running() {
			t.Fatalf("%s exited before it was ready; log:\n%s", p.name, p.tail(30))
		}
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %s; log:\n%s", p.name, within, p.tail(30))
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(filepath.Join(p.dir, p.name+".log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// scrape reads the process's /metrics into its lifetime counters.
func (p *proc) scrape(names ...string) {
	if p.admin == "" || p.metrics == nil || !p.running() {
		return
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	cur := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(line, n) {
				key, val, ok := splitSample(line)
				if ok {
					cur[key] += val
				}
			}
		}
	}
	p.metrics.observe(cur)
}

// splitSample splits a text-format sample into its series (name and
// labels, minus the per-process labels) and value.
func splitSample(line string) (string, float64, bool) {
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", 0, false
	}
	var v float64
	if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
		return "", 0, false
	}
	return line[:i], v, true
}

// lifetimeCounters sums counters over the runs of a process: a restarted
// process starts its counters at zero, so the last value seen of each run
// is added to the total. What a run counted after its last scrape before a
// SIGKILL is missing, so the sums are lower bounds.
type lifetimeCounters struct {
	mu    sync.Mutex
	done  map[string]float64 // finished runs
	last  map[string]float64 // the current run's last scrape
	gauge map[string]float64 // the current run's last scrape, for gauges
}

func newLifetimeCounters() *lifetimeCounters {
	return &lifetimeCounters{done: map[string]float64{}, last: map[string]float64{}}
}

func (l *lifetimeCounters) newLife() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, v := range l.last {
		l.done[k] += v
	}
	l.last = map[string]float64{}
}

func (l *lifetimeCounters) observe(cur map[string]float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, v := range cur {
		if v >= l.last[k] {
			l.last[k] = v
		}
	}
	l.gauge = cur
}

// total sums every series whose text starts with prefix and contains all
// of the substrings, over every run.
func (l *lifetimeCounters) total(prefix string, contains ...string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum float64
	match := func(k string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		for _, c := range contains {
			if !strings.Contains(k, c) {
				return false
			}
		}
		return true
	}
	for k, v := range l.done {
		if match(k) {
			sum += v
		}
	}
	for k, v := range l.last {
		if match(k) {
			sum += v
		}
	}
	return sum
}

// current sums the series of the last scrape whose text starts with prefix
// (a gauge, e.g. the lag).
func (l *lifetimeCounters) current(prefix string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum float64
	for k, v := range l.gauge {
		if strings.HasPrefix(k, prefix) {
			sum += v
		}
	}
	return sum
}

// exitedByItself reports whether the process exited without being stopped.
func (p *proc) exitedByItself() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// The ports the fleet binds later are outside the ephemeral range, so no
// outgoing connection takes one meanwhile (before: ":0", inside it).
func TestFreePort_OutsideTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low <= 10000 {
		t.Skipf("ephemeral range starts at %d: nothing below it to pick", low)
	}
	seen := map[string]bool{}
	for range 20 {
		addr := freePort(t)
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		var port int
		fmt.Sscan(p, &port) //nolint:errcheck // checked below
		if port < 10000 || port >= low {
			t.Fatalf("port %d, want in [10000, %d)", port, low)
		}
		if seen[addr] {
			t.Fatalf("%s given twice", addr)
		}
		seen[addr] = true
	}
}
