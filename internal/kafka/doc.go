// Package kafka turns logweave's Kafka configuration into franz-go client
// options and bootstraps the topics every role depends on.
//
// Roles add their own options (consumer group, transactional id, producer
// tuning) on top of Options; nothing here hides *kgo.Client.
package kafka
