package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/logweave/logweave/internal/reload"
)

// hupWatch returns w as a function that runs it until its context is done,
// re-reading its file on SIGHUP too. The SIGHUP subscription starts here, so
// a SIGHUP between now and the first run is a reload rather than SIGHUP's
// default action (exit); the function ends it. Run the function once
// (runWatched or a stage of logweave dev), or the subscription stays.
func hupWatch(w *reload.Watcher) func(context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w.Signal = hup
	return func(ctx context.Context) {
		defer signal.Stop(hup)
		w.Run(ctx)
	}
}

// runWatched runs main and, beside it, each watch (a hot reload; nil ones
// are skipped) until main returns, then stops the watches and waits for
// them: a role's reload watchers never outlive it, also when it fails
// without its context being canceled.
func runWatched(ctx context.Context, main func(context.Context) error, watches ...func(context.Context)) error {
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, watch := range watches {
		if watch == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			watch(wctx)
		}()
	}
	err := main(ctx)
	stop()
	wg.Wait()
	return err
}
