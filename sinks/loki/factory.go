package loki

import (
	"context"

	"github.com/logweave/logweave/sinks"
)

// NewFactory returns the factory of `type: loki` sinks, whose section is
// `loki:` (Config).
func NewFactory() sinks.Factory {
	return sinks.NewFactory("loki", Default, func(_ context.Context, set sinks.Settings, cfg Config) (*Sink, error) {
		return New(cfg, set.Registerer, set.Name)
	}, sinks.WithLookup(func(cfg Config, _ sinks.LookupOptions) (*Lookup, error) { return NewLookup(cfg) }))
}
