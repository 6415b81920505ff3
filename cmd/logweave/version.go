package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are stamped at build time (make build, the
// Dockerfile): -ldflags "-X main.version=v1.2.3 -X main.revision=<git sha>".
// Left empty, buildVersion fills them from the module and VCS information
// the go command records (go install module@version, go build in a git
// checkout).
var (
	version  = ""
	revision = ""
)

// build is what `logweave version` prints and logweave_build_info carries.
type build struct {
	Version, Revision, GoVersion string
}

// buildVersion returns the stamped version and revision, or what
// runtime/debug.ReadBuildInfo knows: the module version ("(devel)" for a
// plain go build) and the vcs.revision setting, suffixed "-dirty" for a
// modified tree.
func buildVersion() build {
	b := build{Version: version, Revision: revision, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "unknown"
		}
		if b.Revision == "" {
			b.Revision = "unknown"
		}
		return b
	}
	if b.Version == "" {
		b.Version = info.Main.Version
	}
	if b.Revision == "" {
		var rev, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			b.Revision = rev + dirty
		}
	}
	if b.Version == "" {
		b.Version = "unknown"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	b := buildVersion()
	fmt.Fprintf(stdout, "logweave %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
	return 0
}

// buildInfoCollector is logweave_build_info: always 1, the build in its
// labels, so a dashboard can show which version each process runs.
func buildInfoCollector() prometheus.Collector {
	b := buildVersion()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "logweave_build_info",
		Help:        "Always 1; the labels say which logweave build the process runs.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	}, func() float64 { return 1 })
}
