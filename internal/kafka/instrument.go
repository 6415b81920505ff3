package kafka

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// ClientMetricsNamespace prefixes the franz-go client metrics:
// logweave_kafka_connects_total, logweave_kafka_read_bytes_total,
// logweave_kafka_produce_bytes_total, logweave_kafka_fetch_bytes_total,
// logweave_kafka_buffered_produce_records_total, ... (plugin/kprom).
const ClientMetricsNamespace = "logweave_kafka"

// ClientMetrics records one client's franz-go metrics (plugin/kprom) on
// reg, labelled client=name. Give it to exactly one client: kprom's
// collectors belong to the client that created them (a second client would
// register them again), and are unregistered when that client closes.
// Clients of one process need distinct names.
func ClientMetrics(reg prometheus.Registerer, name string) kgo.Opt {
	return kgo.WithHooks(kprom.NewMetrics(ClientMetricsNamespace,
		kprom.Registerer(reg),
		kprom.WithStaticLabel(prometheus.Labels{"client": name})))
}

// ClientLogger sends franz-go's own logs (connections, rebalances,
// retries) through logger (plugin/kslog). franz-go's info messages (a few
// lines for every transaction, every rebalance step) are logged at debug:
// at the default level only its warnings and errors show. Unlike
// ClientMetrics it can be shared by every client.
func ClientLogger(logger *slog.Logger) kgo.Opt {
	return kgo.WithLogger(infoAsDebug{kslog.New(logger.With("component", "franz-go"))})
}

// infoAsDebug logs franz-go's info messages at debug.
type infoAsDebug struct{ l kgo.Logger }

func (q infoAsDebug) Level() kgo.LogLevel {
	if lvl := q.l.Level(); lvl != kgo.LogLevelInfo {
		return lvl
	}
	return kgo.LogLevelWarn // info enabled, debug not: franz-go need not build its info lines
}

func (q infoAsDebug) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo {
		level = kgo.LogLevelDebug
	}
	q.l.Log(level, msg, keyvals...)
}
