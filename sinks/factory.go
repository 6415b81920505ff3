package sinks

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Section is a destination's own part of a sink entry: the section named
// after its type (`file:`, `elasticsearch:`, `loki:`), a pointer to the
// destination's Config. Validate's errors start with the field name.
type Section interface {
	Validate() error
}

// Settings is what a destination gets from the process besides its
// section.
type Settings struct {
	// Name of the sink entry; the destination labels its metrics with it.
	Name string
	// Registerer takes the destination's metrics.
	Registerer prometheus.Registerer
	// Logger logs what the destination does outside Write (connecting,
	// installing a template). Nil: discard.
	Logger *slog.Logger
}

// Factory makes the sinks of one destination type. Every destination
// package has a NewFactory; the binary lists them once, where it is
// assembled (cmd/logweave/components.go), and the configuration and every
// command that builds a sink go through that list.
type Factory interface {
	// Type is the value of `type:` in a sink entry, and the key of the
	// entry's destination section.
	Type() string
	// DefaultConfig returns a new section holding the defaults; the
	// configuration file's section is decoded over it.
	DefaultConfig() Section
	// New builds a destination from a section made by DefaultConfig.
	New(ctx context.Context, set Settings, cfg Section) (Sink, error)
	// NewLookup builds what `logweave reconcile` looks records up with,
	// from a section made by DefaultConfig; ErrNoLookup when the type
	// has none.
	NewLookup(cfg Section, o LookupOptions) (Lookup, error)
}

// NewFactory returns the Factory of a destination type whose section is a
// C (handed around as *C): def returns the defaults, create builds the
// destination S. New fills a nil Settings.Registerer with a fresh registry
// and a nil Settings.Logger with a discarding one.
func NewFactory[C any, P interface {
	*C
	Section
}, S Sink](typ string, def func() C, create func(ctx context.Context, set Settings, cfg C) (S, error), opts ...FactoryOption[C]) Factory {
	f := &factory[C, P, S]{typ: typ, def: def, create: create}
	for _, o := range opts {
		o(&f.extra)
	}
	return f
}

// FactoryOption adds an optional capability to a factory.
type FactoryOption[C any] func(*factoryExtra[C])

type factoryExtra[C any] struct {
	lookup func(C, LookupOptions) (Lookup, error)
}

// WithLookup gives the type a Lookup, built by fn from the sink's section.
func WithLookup[C any, L Lookup](fn func(cfg C, o LookupOptions) (L, error)) FactoryOption[C] {
	return func(e *factoryExtra[C]) {
		e.lookup = func(c C, o LookupOptions) (Lookup, error) {
			l, err := fn(c, o)
			if err != nil {
				return nil, err // not l: see New
			}
			return l, nil
		}
	}
}

type factory[C any, P interface {
	*C
	Section
}, S Sink] struct {
	typ    string
	def    func() C
	create func(context.Context, Settings, C) (S, error)
	extra  factoryExtra[C]
}

func (f *factory[C, P, S]) Type() string { return f.typ }

func (f *factory[C, P, S]) DefaultConfig() Section {
	c := f.def()
	return P(&c)
}

func (f *factory[C, P, S]) section(cfg Section) (P, error) {
	c, ok := cfg.(P)
	if !ok || c == nil {
		return nil, fmt.Errorf("the section of a %s sink is a %T, not a %T", f.typ, cfg, P(nil))
	}
	return c, nil
}

func (f *factory[C, P, S]) NewLookup(cfg Section, o LookupOptions) (Lookup, error) {
	if f.extra.lookup == nil {
		return nil, ErrNoLookup
	}
	c, err := f.section(cfg)
	if err != nil {
		return nil, err
	}
	return f.extra.lookup(*c, o)
}

func (f *factory[C, P, S]) New(ctx context.Context, set Settings, cfg Section) (Sink, error) {
	c, err := f.section(cfg)
	if err != nil {
		return nil, fmt.Errorf("building sink %q: %w", set.Name, err)
	}
	if set.Registerer == nil {
		set.Registerer = prometheus.NewRegistry()
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := f.create(ctx, set, *c)
	if err != nil {
		// Not s: a nil *T in a Sink interface would not be nil.
		return nil, err
	}
	return s, nil
}

// Factories are the destination types of a binary, in the order they are
// listed.
type Factories []Factory

// Get returns the factory of type typ.
func (fs Factories) Get(typ string) (Factory, bool) {
	for _, f := range fs {
		if f.Type() == typ {
			return f, true
		}
	}
	return nil, false
}

// Types returns the type names, in the order listed.
func (fs Factories) Types() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Type()
	}
	return out
}
