package file

import (
	"context"

	"github.com/logweave/logweave/sinks"
)

// NewFactory returns the factory of `type: file` sinks, whose section is
// `file:` (Config).
func NewFactory() sinks.Factory {
	return sinks.NewFactory("file", Default, func(_ context.Context, set sinks.Settings, cfg Config) (*Sink, error) {
		return New(cfg, set.Registerer, set.Name)
	})
}
