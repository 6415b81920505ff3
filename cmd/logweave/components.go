package main

import (
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/file"
	"github.com/logweave/logweave/sinks/loki"
)

// sinkTypes are the destination types this binary has: the one list a new
// sink type is added to (docs/adding-a-sink.md). The configuration decodes
// and validates the sections of `sinks:` with them, and every command
// builds its sinks through them.
func sinkTypes() sinks.Factories {
	return sinks.Factories{file.NewFactory(), elasticsearch.NewFactory(), loki.NewFactory()}
}
