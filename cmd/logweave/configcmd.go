package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/logweave/logweave/internal/config"
)

func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "overrides") {
		fmt.Fprintln(stderr, "usage: logweave config check [-c FILE]   validate and print the effective configuration, secrets redacted\n       logweave config overrides           list the LOGWEAVE_* environment overrides")
		return 2
	}
	if args[0] == "overrides" {
		for _, o := range config.Overrides() {
			fmt.Fprintln(stdout, o)
		}
		return 0
	}
	fs := flag.NewFlagSet("logweave config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common commonFlags
	common.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return parseFailed(err)
	}
	cfg, err := config.Load(common.configPath, sinkTypes(), os.Getenv, common.apply)
	if err != nil {
		fmt.Fprintf(stderr, "invalid configuration:\n%s\n", indent(err.Error()))
		return 1
	}
	fmt.Fprint(stdout, cfg.Redacted())
	return 0
}
