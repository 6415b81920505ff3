package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/logweave/logweave/internal/config"
	"github.com/logweave/logweave/ops"
)

// loadForTool loads the configuration for a one-shot command.
func loadForTool(name string, common *commonFlags, stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Load(common.configPath, sinkTypes(), os.Getenv, common.apply)
	if err != nil {
		fmt.Fprintf(stderr, "logweave %s: invalid configuration:\n%s\n", name, indent(err.Error()))
		return cfg, false
	}
	return cfg, true
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common commonFlags
		asJSON bool
		watch  time.Duration
	)
	common.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	fs.DurationVar(&watch, "watch", 0, "refresh at this interval until interrupted (e.g. 2s)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave status [flags] [GROUP...]\n\nFor each logweave consumer group: members, per-partition committed offset, end offset, lag,\nand the time of the oldest unconsumed record.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	cfg, ok := loadForTool("status", &common, stderr)
	if !ok {
		return 2
	}
	p := &process{cfg: cfg}
	cl, err := p.kafka().NewClient("status")
	if err != nil {
		fmt.Fprintf(stderr, "logweave status: %v\n", err)
		return 1
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		groups, err := ops.Status(qctx, cl, cfg.Kafka.Topics, fs.Args()...)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "logweave status: %v\n", err)
			return 1
		}
		if watch > 0 && !asJSON {
			fmt.Fprint(stdout, "\033[H\033[2J")
		}
		if asJSON {
			err = ops.WriteJSON(stdout, groups)
		} else {
			if len(groups) == 0 {
				fmt.Fprintln(stdout, "no logweave consumer groups")
			}
			err = ops.WriteTable(stdout, groups, time.Now())
		}
		if err != nil || watch <= 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(watch):
		}
	}
}

func runOffsets(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "set" {
		fmt.Fprintln(stderr, "usage: logweave offsets set --group GROUP --to earliest|latest|RFC3339 [--topic TOPIC]")
		return 2
	}
	fs := flag.NewFlagSet("logweave offsets set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common           commonFlags
		group, to, topic string
	)
	common.register(fs)
	fs.StringVar(&group, "group", "", "consumer group to move (required; it must have no members)")
	fs.StringVar(&to, "to", "", "earliest, latest, or an RFC 3339 time: the first offset at or after it (required)")
	fs.StringVar(&topic, "topic", "", "topic (default: the one the logweave group consumes)")
	if err := fs.Parse(args[1:]); err != nil {
		return parseFailed(err)
	}
	if group == "" || to == "" {
		fmt.Fprintln(stderr, "logweave offsets set: --group and --to are required")
		return 2
	}
	cfg, ok := loadForTool("offsets", &common, stderr)
	if !ok {
		return 2
	}
	if topic == "" {
		topic = ops.Topic(group, cfg.Kafka.Topics)
	}
	p := &process{cfg: cfg}
	cl, err := p.kafka().NewClient("offsets")
	if err != nil {
		fmt.Fprintf(stderr, "logweave offsets: %v\n", err)
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set, err := ops.SetOffsets(ctx, cl, group, topic, to)
	if err != nil {
		fmt.Fprintf(stderr, "logweave offsets set: %v\n", err)
		if errors.Is(err, ops.ErrGroupActive) {
			return 3
		}
		return 1
	}
	ps := make([]int, 0, len(set))
	for p := range set {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	fmt.Fprintf(stdout, "%s on %s set to %s:\n", group, topic, to)
	for _, p := range ps {
		fmt.Fprintf(stdout, "  partition %d: %d\n", p, set[int32(p)])
	}
	return 0
}
