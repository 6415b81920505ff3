package main

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sync/errgroup"
)

// The order logweave dev stops its stages in: data-flow order, so that each
// stage drains into stages still running. The generator stops sending;
// ingest stops accepting, answers its requests and flushes its producer;
// enrich commits its final transaction; the sinks finish their batches and
// commit; then the routes watcher stops. The embedded broker closes after
// the pipeline returns (runDev).
const (
	stopGen = iota
	stopIngest
	stopEnrich
	stopSinks
	stopRoutes
)

// pipeline runs logweave dev's stages under one errgroup: the first stage
// that fails ends the pipeline (Failed), and stop ends the stages one at a
// time in their stop order, each finished before the next is told to stop.
type pipeline struct {
	g      *errgroup.Group
	failed context.Context
	stages []*stage
}

// stage is one running part of the pipeline.
type stage struct {
	name   string
	order  int
	cancel context.CancelFunc
	done   chan struct{} // closed when the stage's function returned
	err    error         // what it returned, unless canceled; read after done
}

// newPipeline returns an empty pipeline whose Failed is done when ctx is or
// a stage fails.
func newPipeline(ctx context.Context) *pipeline {
	g, failed := errgroup.WithContext(ctx)
	return &pipeline{g: g, failed: failed}
}

// Failed is done when the pipeline's context is or a stage failed.
func (pl *pipeline) Failed() <-chan struct{} { return pl.failed.Done() }

// start runs fn as a stage stopped at order (stopGen ... stopRoutes). The
// stage's context is its own, not the group's, so that a failure or a
// signal does not end every stage at once: stop ends them in order.
func (pl *pipeline) start(order int, name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{name: name, order: order, cancel: cancel, done: make(chan struct{})}
	pl.stages = append(pl.stages, s)
	pl.g.Go(func() error {
		defer close(s.done)
		err := fn(ctx)
		if err == nil || ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil
		}
		s.err = fmt.Errorf("%s: %w", name, err)
		return s.err
	})
}

// stop ends the stages in their stop order (stages of one order in the
// order they started), waits for every one, and returns their errors.
func (pl *pipeline) stop() error {
	ordered := append([]*stage(nil), pl.stages...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].order < ordered[j].order })
	for _, s := range ordered {
		s.cancel()
		<-s.done
	}
	_ = pl.g.Wait() // every stage is done; their errors are below
	var errs []error
	for _, s := range ordered {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	return errors.Join(errs...)
}
