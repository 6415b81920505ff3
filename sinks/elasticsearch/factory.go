package elasticsearch

import (
	"context"

	"github.com/logweave/logweave/sinks"
)

// NewFactory returns the factory of `type: elasticsearch` sinks, whose
// section is `elasticsearch:` (Config).
func NewFactory() sinks.Factory {
	return sinks.NewFactory("elasticsearch", Default, func(ctx context.Context, set sinks.Settings, cfg Config) (*Sink, error) {
		return New(ctx, cfg, set.Registerer, set.Name, WithLogger(set.Logger))
	})
}
