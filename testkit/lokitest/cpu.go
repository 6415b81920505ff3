package lokitest

import "github.com/logweave/logweave/testkit/proccpu"

// CPU returns the CPU time (user + system) Loki has used so far, over
// every run since Start (restarts included).
func (l *Loki) CPU() float64 {
	l.cpuMu.Lock()
	defer l.cpuMu.Unlock()
	total := l.cpuDone
	if l.cmd != nil && l.cmd.Process != nil {
		total += proccpu.Running(l.cmd.Process.Pid)
	}
	return total
}
