// Package goroutines lists the running goroutines of a component, for tests
// that check every goroutine has an owner: once the component's Run (or
// role) returned, none of its goroutines may remain. No dependency beyond
// runtime.Stack.
package goroutines

import (
	"runtime"
	"strings"
)

// Running returns the stacks of the goroutines whose stack mentions any of
// funcs, e.g. "logweave/sinks.(*Runner)". Check right after the component
// returned, without a grace: an owner joins its goroutines before it
// returns.
func Running(funcs ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
