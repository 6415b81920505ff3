package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/logweave/logweave/internal/broker"
	"github.com/logweave/logweave/internal/config"
)

func runBroker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		common     commonFlags
		port       int
		partitions int
		dataDir    string
		syncWrites bool
	)
	common.register(fs)
	fs.IntVar(&port, "port", 9092, "port on 127.0.0.1 (0 picks a free port)")
	fs.IntVar(&partitions, "partitions", 0, "partitions of logweave.raw and logweave.enriched (default kafka.topics.*.partitions, 12)")
	fs.StringVar(&dataDir, "data-dir", "", "directory that keeps topics, offsets and groups across restarts (default: in memory, lost on exit)")
	fs.BoolVar(&syncWrites, "sync", false, "fsync every produced batch (slower; survives a crash of the broker process)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave broker [flags]\n\nRuns franz-go kfake as a single-node Kafka on 127.0.0.1 for development and tests.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if partitions < 0 || partitions > 10000 {
		fmt.Fprintln(stderr, "logweave broker: --partitions must be between 1 and 10000")
		return 2
	}
	extra := func(c *config.Config) {
		// The broker serves itself; kafka.brokers is not needed.
		if len(c.Kafka.Brokers) == 0 {
			c.Kafka.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", port)}
		}
		if partitions > 0 {
			c.Kafka.Topics.Raw.Partitions = int32(partitions)
			c.Kafka.Topics.Enriched.Partitions = int32(partitions)
		}
	}
	return runProcess("broker", &common, extra, stdout, stderr, func(ctx context.Context, p *process) error {
		if dataDir == "" {
			p.logger.Warn("no --data-dir: topics and offsets live in memory and are lost on exit")
		}
		b, err := broker.Start(ctx, broker.Config{Port: port, DataDir: dataDir, SyncWrites: syncWrites, Topics: p.cfg.Kafka.Topics}, p.logger)
		if err != nil {
			return err
		}
		defer b.Close()
		p.ready.Set("broker", func() error { return nil })
		p.logger.Info("kafka broker listening", "addr", b.Addr(), "data_dir", dataDir)
		fmt.Fprintf(p.stdout, "kafka listening on %s\n", b.Addr())
		<-ctx.Done()
		return nil
	})
}
