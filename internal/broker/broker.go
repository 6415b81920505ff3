// Package broker runs franz-go's kfake as a single-node Kafka on 127.0.0.1,
// the embedded default of `logweave broker` and `logweave dev`. It speaks
// the Kafka protocol over TCP, so any Kafka client (kcat, librdkafka,
// confluent-kafka-python) can use it, and with a data directory it keeps
// topics, records, committed offsets and producer state across restarts.
//
// It is for development, demos and tests: one node, no replication.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/kafka"
)

// Config configures the embedded broker.
type Config struct {
	// Port on 127.0.0.1; 0 picks a free one. The default of the
	// `logweave broker` command is 9092.
	Port int
	// DataDir persists state across restarts; empty keeps it in memory and
	// loses it on exit.
	DataDir string
	// SyncWrites fsyncs every produced batch. Default off, like Kafka's
	// default flush policy: a clean shutdown persists everything, a crash
	// of the broker process may lose the last writes.
	SyncWrites bool
	// Topics are created at start (or checked, when loaded from DataDir).
	Topics kafka.Topics
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	logger  *slog.Logger
}

// Start starts the broker and bootstraps the logweave topics.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*Broker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.WithLogger(slogAdapter{logger}),
		// Group session timeouts as a real broker's defaults allow, so
		// clients configured for production work here unchanged.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded kafka on 127.0.0.1:%d: %w", cfg.Port, err)
	}
	b := &Broker{cluster: c, logger: logger}
	if err := b.bootstrap(ctx, cfg.Topics); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) bootstrap(ctx context.Context, topics kafka.Topics) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		return fmt.Errorf("connecting to embedded kafka: %w", err)
	}
	defer cl.Close()
	states, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), topics.ReplicationFactor, topics.Specs())
	for _, s := range states {
		switch {
		case s.Created:
			b.logger.Info("created topic", "topic", s.Topic, "partitions", s.Partitions)
		case s.Mismatch != nil:
			b.logger.Warn("topic partition count differs from config", "topic", s.Topic, "partitions", s.Partitions, "configured", s.Mismatch.Want)
		default:
			b.logger.Debug("topic exists", "topic", s.Topic, "partitions", s.Partitions)
		}
	}
	if err != nil {
		return fmt.Errorf("bootstrapping topics: %w", err)
	}
	return nil
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.cluster.ListenAddrs()[0] }

// Cluster exposes the kfake cluster for tests and fault injection.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker. With a DataDir it first writes its state, so a
// clean Close loses nothing.
func (b *Broker) Close() { b.cluster.Close() }

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, msg string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		// kfake logs every request at info; that is debug for us.
		lvl = slog.LevelDebug
	default:
		lvl = slog.LevelDebug - 4
	}
	if !a.l.Enabled(context.Background(), lvl) {
		return
	}
	a.l.Log(context.Background(), lvl, fmt.Sprintf(msg, args...), "component", "kfake")
}
