// Package kafka turns logweave's Kafka configuration into franz-go clients
// and bootstraps the topics every role depends on.
//
// Clients is the one client constructor every role uses: the shared options
// (Options), the role's client id ("logweave-enrich", "logweave-sink-es",
// ...), franz-go's logs through slog (plugin/kslog) and, on each role's main
// client, franz-go's metrics on the process registry (plugin/kprom). Roles
// add their own options (consumer group, transactional id, producer tuning)
// on top; nothing here hides *kgo.Client.
package kafka
