// Package file is the file sink: enriched records as NDJSON files, one JSON
// document per line (the shape of sinks/document), rotated by size and
// age, and fsynced before a write is reported delivered.
//
// It is the default destination of `logweave dev` and the reference for
// writing a new sink (docs/adding-a-sink.md).
//
// Each partition writes its own file, <dir>/p<partition>.ndjson, so the
// runtime's per-partition goroutines never contend, and processes of a
// fleet sharing a directory never write the same file at once. Rotated
// files are named p<partition>-<UTC time>.ndjson.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/document"
)

// Config is the `file:` section of a file sink.
type Config struct {
	// Dir holds the files; created if missing. Default .logweave/files.
	Dir string `yaml:"dir"`
	// MaxBytes rotates a file when it reaches this size. Default 100 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxAge rotates a file this long after it was opened. Default 1h.
	MaxAge time.Duration `yaml:"max_age"`
}

// Default returns the defaults.
func Default() Config {
	return Config{Dir: filepath.Join(".logweave", "files"), MaxBytes: 100 << 20, MaxAge: time.Hour}
}

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if c.MaxBytes < 1024 {
		errs = append(errs, errors.New("max_bytes: must be at least 1024"))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, errors.New("max_age: must be positive, e.g. 1h"))
	}
	return errors.Join(errs...)
}

// Sink writes NDJSON files.
type Sink struct {
	cfg   Config
	mu    sync.Mutex // guards files
	files map[int32]*partFile
	now   func() time.Time
	// openFile opens a partition file; tests replace it to observe and
	// fail writes and syncs.
	openFile func(name string) (handle, error)
}

// handle is the part of *os.File the sink uses.
type handle interface {
	io.Writer
	io.ReaderAt
	io.Seeker
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

func openOS(name string) (handle, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
}

// partFile is the open file of one partition. Its mutex serializes writes
// in the rare case two batches of one partition overlap (a rebalance hands
// the partition back while an abandoned write still runs).
type partFile struct {
	mu     sync.Mutex
	f      handle
	size   int64
	opened time.Time
	buf    []byte
}

// New creates the directory and returns the sink.
func New(cfg Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating file sink dir: %w", err)
	}
	return &Sink{cfg: cfg, files: make(map[int32]*partFile), now: time.Now, openFile: openOS}, nil
}

// Write appends the batch's documents to its partition's file and fsyncs.
// A failed write is truncated away, so a retry never leaves a torn line.
func (s *Sink) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	results := make([]sinks.Result, len(batch))
	if len(batch) == 0 {
		return results, nil
	}
	pf := s.file(batch[0].Partition)
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fill(results, sinks.RetryLater("canceled", err)), nil
	}
	pf.buf = pf.buf[:0]
	for _, r := range batch {
		pf.buf = document.Append(pf.buf, r.Enriched)
		pf.buf = append(pf.buf, '\n')
	}
	if err := s.prepare(pf, batch[0].Partition, int64(len(pf.buf))); err != nil {
		return fill(results, sinks.RetryLater("io", err)), nil
	}
	if err := pf.append(pf.buf); err != nil {
		return fill(results, sinks.RetryLater("io", err)), nil
	}
	return fill(results, sinks.Ok()), nil
}

func fill(rs []sinks.Result, r sinks.Result) []sinks.Result {
	for i := range rs {
		rs[i] = r
	}
	return rs
}

func (s *Sink) file(p int32) *partFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	pf := s.files[p]
	if pf == nil {
		pf = &partFile{}
		s.files[p] = pf
	}
	return pf
}

// prepare opens the partition's file if needed and rotates it when the
// next n bytes would take it past MaxBytes (a single larger batch gets a
// file of its own) or it is older than MaxAge.
func (s *Sink) prepare(pf *partFile, p int32, n int64) error {
	if pf.f != nil && pf.size > 0 && (pf.size+n > s.cfg.MaxBytes || s.now().Sub(pf.opened) >= s.cfg.MaxAge) {
		if err := s.rotate(pf, p); err != nil {
			return err
		}
	}
	if pf.f == nil {
		if err := s.open(pf, p); err != nil {
			return err
		}
		// A file left from before a restart may already be full.
		if pf.size > 0 && pf.size+n > s.cfg.MaxBytes {
			if err := s.rotate(pf, p); err != nil {
				return err
			}
			return s.open(pf, p)
		}
	}
	return nil
}

func (s *Sink) current(p int32) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("p%03d.ndjson", p))
}

// open opens (or creates) the current file and cuts a torn last line left
// by a crash mid-write, so appending never glues a new document onto half
// of an old one.
func (s *Sink) open(pf *partFile, p int32) error {
	f, err := s.openFile(s.current(p))
	if err != nil {
		return fmt.Errorf("opening file sink file: %w", err)
	}
	size, err := repairTail(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("repairing %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	pf.f, pf.size, pf.opened = f, size, s.now()
	return nil
}

// repairTail truncates f after its last newline and returns the new size.
func repairTail(f handle) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := size
	for end > 0 {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				keep := start + int64(i) + 1
				if keep != size {
					if err := f.Truncate(keep); err != nil {
						return 0, err
					}
				}
				return keep, f.Sync()
			}
		}
		end = start
	}
	// No newline at all: the whole file is one torn line.
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	return 0, f.Sync()
}

func (s *Sink) rotate(pf *partFile, p int32) error {
	if err := pf.f.Close(); err != nil {
		return err
	}
	pf.f = nil
	stamp := strings.ReplaceAll(s.now().UTC().Format("20060102T150405.000000000Z"), ".", "")
	target := filepath.Join(s.cfg.Dir, fmt.Sprintf("p%03d-%s.ndjson", p, stamp))
	for i := 1; fileExists(target); i++ {
		target = filepath.Join(s.cfg.Dir, fmt.Sprintf("p%03d-%s-%d.ndjson", p, stamp, i))
	}
	if err := os.Rename(s.current(p), target); err != nil {
		return fmt.Errorf("rotating file sink file: %w", err)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// append writes b and fsyncs; on failure it truncates back.
func (pf *partFile) append(b []byte) error {
	n, err := pf.f.Write(b)
	if err == nil {
		err = pf.f.Sync()
	}
	if err != nil {
		if n > 0 {
			if terr := pf.f.Truncate(pf.size); terr == nil {
				pf.f.Seek(pf.size, io.SeekStart) //nolint:errcheck // best effort; the next open repairs the tail
			} else {
				pf.f.Close()
				pf.f = nil // reopen repairs the tail
			}
		}
		return fmt.Errorf("writing file sink file: %w", err)
	}
	pf.size += int64(n)
	return nil
}

// Close closes every open file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, pf := range s.files {
		pf.mu.Lock()
		if pf.f != nil {
			errs = append(errs, pf.f.Close())
			pf.f = nil
		}
		pf.mu.Unlock()
	}
	return errors.Join(errs...)
}
