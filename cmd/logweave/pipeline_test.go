package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// The dev pipeline stops its stages in data-flow order, each one finished
// before the next is told to stop, whatever order they started in; a
// failing stage ends the pipeline, and stop reports its error.
func TestPipeline_StopsInOrderAfterAFailure(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	pl := newPipeline(context.Background())
	runUntilStopped := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			record("stopping " + name)
			record("stopped " + name)
			return ctx.Err()
		}
	}
	failNow := make(chan struct{})
	pl.start(stopSinks, "sink b", runUntilStopped("sink b"))
	pl.start(stopRoutes, "routes", runUntilStopped("routes"))
	pl.start(stopIngest, "ingest", runUntilStopped("ingest"))
	pl.start(stopEnrich, "enrich", func(ctx context.Context) error {
		select {
		case <-failNow:
			record("enrich failed")
			return errors.New("transaction fenced")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	pl.start(stopSinks, "sink a", runUntilStopped("sink a"))
	pl.start(stopGen, "gen", runUntilStopped("gen"))
	close(failNow)
	select {
	case <-pl.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("the pipeline did not see the failure")
	}
	err := pl.stop()
	if err == nil || err.Error() != "enrich: transaction fenced" {
		t.Errorf("stop = %v, want the failed stage's error", err)
	}
	want := []string{"enrich failed",
		"stopping gen", "stopped gen", "stopping ingest", "stopped ingest",
		"stopping sink b", "stopped sink b", "stopping sink a", "stopped sink a",
		"stopping routes", "stopped routes"}
	if got := strings.Join(events, ", "); got != strings.Join(want, ", ") {
		t.Errorf("events:\n %s\nwant\n %s", got, strings.Join(want, ", "))
	}
}
