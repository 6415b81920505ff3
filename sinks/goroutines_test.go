package sinks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/testkit/goroutines"
)

// failingSink fails the whole sink at its first write.
type failingSink struct{}

func (failingSink) Write(context.Context, []*Record) ([]Result, error) {
	return nil, errors.New("credentials refused")
}
func (failingSink) Close() error { return nil }

// Every goroutine of a runner has Run as its owner: when Run returns, none
// is left, whether it was stopped, its client was closed under it, or the
// sink failed. Checked at once, not after a grace: Run joins them.
func TestRunner_RunLeavesNoGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name string
		sink func() Sink
		end  func(m *member) // ends the run; nil: the run ends by itself
	}{
		{"stopped", func() Sink { return newFakeSink() }, func(m *member) { m.cancel() }},
		{"client closed", func() Sink { return newFakeSink() }, func(m *member) { m.r.cl.Close() }},
		{"sink failed", func() Sink { return failingSink{} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			e.produce("a", 40, time.Time{})
			m := e.start(testConfig("t"), tc.sink(), time.Second)
			if tc.end != nil {
				waitFor(t, 20*time.Second, "all records committed", func() bool { return e.allCommitted("logweave-sink-t") })
				tc.end(m)
			}
			select {
			case <-m.done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30s")
			}
			if gs := goroutines.Running("logweave/sinks.(*Runner)", "logweave/sinks.(*worker)"); len(gs) > 0 {
				t.Errorf("%d goroutines of the runner left after Run returned:\n%s", len(gs), strings.Join(gs, "\n\n"))
			}
			m.cancel()
			m.cancel = nil // Run returned: nothing for the cleanup to stop
		})
	}
}
