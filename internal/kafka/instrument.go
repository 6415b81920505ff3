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
// retries) through logger (plugin/kslog), at the levels its handler
// enables. Unlike ClientMetrics it can be shared by every client.
func ClientLogger(logger *slog.Logger) kgo.Opt {
	return kgo.WithLogger(kslog.New(logger.With("component", "franz-go")))
}
