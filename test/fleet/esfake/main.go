// Command esfake runs testkit/esfake, the Elasticsearch contract server of
// the tests, as its own process for the chaos harness (test/fleet). It is
// test tooling, not part of the logweave binary: it prints its URL on the
// first line of stdout and serves until SIGINT or SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/logweave/logweave/testkit/esfake"
)

func main() {
	s := esfake.New()
	defer s.Close()
	fmt.Println(s.URL)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
}
