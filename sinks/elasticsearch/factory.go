package elasticsearch

import (
	"context"
	"strings"

	"github.com/logweave/logweave/sinks"
)

// NewFactory returns the factory of `type: elasticsearch` sinks, whose
// section is `elasticsearch:` (Config). Its lookup searches
// LookupOptions.Index, by default the template's patterns.
func NewFactory() sinks.Factory {
	return sinks.NewFactory("elasticsearch", Default, func(ctx context.Context, set sinks.Settings, cfg Config) (*Sink, error) {
		return New(ctx, cfg, set.Registerer, set.Name, WithLogger(set.Logger))
	}, sinks.WithLookup(func(cfg Config, o sinks.LookupOptions) (*Lookup, error) {
		if o.Index == "" {
			o.Index = strings.Join(cfg.Template.Patterns, ",")
		}
		return NewLookup(cfg, o.Index)
	}))
}
