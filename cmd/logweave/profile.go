package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startProfiles writes a CPU profile of the whole run and, at the end, an
// allocation profile into $LOGWEAVE_PROFILE_DIR when it is set (used by
// `logweave bench --profile-dir`), named $LOGWEAVE_PROFILE_NAME or the role
// and pid. The returned function stops and writes them.
func startProfiles(role string, logger *slog.Logger) func() {
	dir := os.Getenv("LOGWEAVE_PROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	name := os.Getenv("LOGWEAVE_PROFILE_NAME")
	if name == "" {
		name = fmt.Sprintf("%s-%d", role, os.Getpid())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logger.Warn("creating profile directory", "err", err)
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		logger.Warn("creating CPU profile", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		logger.Warn("starting CPU profile", "err", err)
		cpu.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		f, err := os.Create(filepath.Join(dir, name+".allocs.pprof"))
		if err != nil {
			logger.Warn("creating allocation profile", "err", err)
			return
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			logger.Warn("writing allocation profile", "err", err)
		}
	}
}
