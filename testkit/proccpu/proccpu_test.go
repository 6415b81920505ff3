package proccpu

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestRunning_CountsTheCPUOfABusyChild(t *testing.T) {
	// A child that spins: its CPU time must show within the deadline.
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for Running(cmd.Process.Pid) < 0.05 {
		if time.Now().After(deadline) {
			t.Fatalf("a spinning child shows %v CPU seconds after 30s", Running(cmd.Process.Pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := Running(os.Getpid() + 1<<22); got != 0 {
		t.Errorf("a pid that does not exist: %v, want 0", got)
	}
}

func TestExited_ReadsTheWaitedProcessState(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got := Exited(cmd); got <= 0 {
		t.Errorf("Exited = %v, want > 0 for a process that counted to 200000", got)
	}
	if got := Exited(exec.Command("true")); got != 0 {
		t.Errorf("a command never run: %v, want 0", got)
	}
}
