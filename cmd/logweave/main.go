// Command logweave runs every role of the logweave pipeline. Each role is a
// subcommand; `logweave dev` runs them all in one process on an embedded
// Kafka. This package only wires things together: flags, signals, config.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"bench":       {"measure each role's records per CPU-second as its own process on an embedded broker", runBench},
		"broker":      {"run an embedded single-node Kafka (kfake) on 127.0.0.1", runBroker},
		"dev":         {"run the whole pipeline in one process on an embedded Kafka, with a workload", runDev},
		"ingest":      {"receive OTLP/HTTP and NDJSON and produce to logweave.raw", runIngest},
		"gen":         {"send an online-judge workload to ingest and write a manifest", runGen},
		"find":        {"show a submission's spans and logs from Elasticsearch: --submit ID, --user U --seq N or --trace ID", runFind},
		"enrich":      {"join and sample logweave.raw into logweave.enriched, exactly once (group logweave-enrich)", runEnrich},
		"replay":      {"backfill a time window of logweave.enriched into a sink's destination, resumably", runReplay},
		"status":      {"show every logweave consumer group: members, committed offsets, lag, oldest unconsumed record", runStatus},
		"offsets":     {"move an idle group's offsets: offsets set --group G --to earliest|latest|TIME", runOffsets},
		"reconcile":   {"check that Elasticsearch and Loki hold what logweave.enriched routed to them, per submission; --repair re-drives what is missing", runReconcile},
		"sink":        {"run one sink (consumer group logweave-sink-NAME) from logweave.enriched to its destination", runSink},
		"config":      {"check a configuration file or list the LOGWEAVE_* overrides", runConfig},
		"healthcheck": {"exit 0 when a process's /readyz answers 2xx (--url); the container healthcheck", runHealthcheck},
		"version":     {"print the version", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(nil, stdout, stderr)
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "logweave: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

// parseFailed is the exit code after a command's flags did not parse: 0 for
// -h/--help (the usage was printed on request), 2 for a usage error.
func parseFailed(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: logweave <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'logweave <command> -h' for the flags of a command.")
}
