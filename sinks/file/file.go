// Package file is the file sink: enriched records as NDJSON files, one JSON
// document per line (the shape of sinks/document), rotated by size and
// age, and fsynced before a write is reported delivered.
//
// It is the default destination of `logweave dev` and the reference for
// writing a new sink (docs/adding-a-sink.md).
//
// Each partition writes its own file, <dir>/p<partition>.ndjson, so the
// runtime's per-partition goroutines never contend. Rotated files are named
// p<partition>-<UTC time>.ndjson.
//
// Processes of a fleet may share the directory. Files are opened for
// appending, and every write (with its tail repair and any rotation) holds
// the partition's lock, an flock on p<partition>.lock, so two writers never
// interleave within a line and a torn last line is cut only when no one is
// writing it. A member closes a partition's file when the partition is
// revoked or lost (ReleasePartition); the next owner reopens it, cuts a
// torn last line and reads the tail back. Every line ends with the
// record's offset in the enriched topic ("enriched_offset"), so records a
// redelivery sends again (after a crash, or a rebalance before the commit)
// are recognized by offset and record_id and not written twice.
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/sinks"
)

// Sink writes NDJSON files.
type Sink struct {
	cfg   Config
	mu    sync.Mutex // guards files
	files map[int32]*partFile
	now   func() time.Time
	// openFile opens a partition file; tests replace it to observe and
	// fail writes and syncs.
	openFile func(name string) (handle, error)
	// syncDir fsyncs the directory, so that a created or renamed file
	// survives a crash; tests replace it to observe it.
	syncDir func(dir string) error
	// lockWait bounds waiting for another writer's lock before a write
	// answers retry.
	lockWait time.Duration
	m        *metrics
}

// handle is the part of *os.File the sink uses.
type handle interface {
	io.Writer
	io.ReaderAt
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

// openOS opens for appending: every write lands at the end of the file
// whatever was written through another descriptor.
func openOS(name string) (handle, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
}

func syncDirOS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// partFile is the open file of one partition. Its mutex serializes writes
// in the rare case two batches of one partition overlap (a rebalance hands
// the partition back while an abandoned write still runs).
type partFile struct {
	mu     sync.Mutex
	lock   *os.File // the partition's lock file, locked during each write
	f      handle
	size   int64
	opened time.Time
	buf    []byte
	id     []byte // scratch for encoded record ids

	// scanned is set once the files were read back since we opened the
	// file or someone else wrote to it.
	scanned bool
	// seen holds what the files already hold at or after the first offset
	// written in this ownership: offset -> record_id as JSON. Records
	// found there are not written again. Dropped once writes pass seenMax.
	seen    map[int64]string
	seenMax int64
}

// New creates the directory and returns the sink; its metrics go to reg,
// labelled sink=sinkName.
func New(cfg Config, reg prometheus.Registerer, sinkName string) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating file sink dir: %w", err)
	}
	if err := syncDirOS(cfg.Dir); err != nil {
		return nil, fmt.Errorf("syncing file sink dir: %w", err)
	}
	return &Sink{cfg: cfg, files: make(map[int32]*partFile), now: time.Now, openFile: openOS, syncDir: syncDirOS, lockWait: 2 * time.Second,
		m: newMetrics(reg, sinkName)}, nil
}

// Write appends the batch's documents to its partition's file and fsyncs.
// A failed write is truncated away, so a retry never leaves a torn line.
// Records the file already holds (sent again after a crash or rebalance)
// are answered delivered without writing them again.
func (s *Sink) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	results := make([]sinks.Result, len(batch))
	if len(batch) == 0 {
		return results, nil
	}
	p := batch[0].Partition
	pf := s.file(p)
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fill(results, sinks.RetryLater("canceled", err)), nil
	}
	release, err := s.lock(ctx, pf, p)
	if err != nil {
		if errors.Is(err, errLocked) {
			return fill(results, sinks.RetryLater("locked", err)), nil
		}
		return fill(results, sinks.RetryLater("io", err)), nil
	}
	defer release()
	if err := s.refresh(pf, p); err != nil {
		return fill(results, sinks.RetryLater("io", err)), nil
	}
	if !pf.scanned {
		seen, seenMax, err := s.window(pf, p, batch[0].Offset)
		if err != nil {
			return fill(results, sinks.RetryLater("io", fmt.Errorf("reading back %s: %w", s.current(p), err))), nil
		}
		pf.seen, pf.seenMax, pf.scanned = seen, seenMax, true
	}
	pf.buf = pf.buf[:0]
	written := 0
	for _, r := range batch {
		if pf.holds(r) {
			continue
		}
		pf.buf = appendLine(pf.buf, r)
		written++
	}
	if len(pf.buf) > 0 {
		if err := s.prepare(pf, p, int64(len(pf.buf))); err != nil {
			return fill(results, sinks.RetryLater("io", err)), nil
		}
		start := time.Now()
		if err := pf.append(pf.buf); err != nil {
			return fill(results, sinks.RetryLater("io", err)), nil
		}
		s.m.appendDur.Observe(time.Since(start).Seconds())
		s.m.bytes.Add(float64(len(pf.buf)))
	}
	s.m.records.WithLabelValues("written").Add(float64(written))
	s.m.records.WithLabelValues("present").Add(float64(len(batch) - written))
	if pf.seen != nil && batch[len(batch)-1].Offset >= pf.seenMax {
		pf.seen = nil
	}
	return fill(results, sinks.Ok()), nil
}

// holds reports whether the files already hold r: a line with r's offset
// and record_id.
func (pf *partFile) holds(r *sinks.Record) bool {
	want, ok := pf.seen[r.Offset]
	if !ok {
		return false
	}
	pf.id = encodedID(pf.id, r.Enriched.GetRecordId())
	return want == string(pf.id)
}

// lock takes the partition's lock (flock on p<partition>.lock) for one
// write, waiting up to lockWait while another writer finishes its write.
// Every write, tail repair and rotation of a partition's files happens
// under it, so writers sharing the directory (a previous owner finishing
// late, a replay) never interleave within a line, and a tail is cut only
// when no one is writing it.
func (s *Sink) lock(ctx context.Context, pf *partFile, p int32) (release func(), err error) {
	if pf.lock == nil {
		name := filepath.Join(s.cfg.Dir, fmt.Sprintf("p%03d.lock", p))
		lf, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening file sink lock: %w", err)
		}
		pf.lock = lf
	}
	deadline := time.Now().Add(s.lockWait)
	for {
		err := tryLock(pf.lock)
		if err == nil {
			lf := pf.lock
			// An unlock that fails is undone by closing the descriptor
			// (ReleasePartition, Close).
			return func() { _ = unlock(lf) }, nil
		}
		if !errors.Is(err, errLocked) || !time.Now().Before(deadline) {
			return nil, fmt.Errorf("locking %s: %w", pf.lock.Name(), err)
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// refresh makes pf.f the partition's current file as it is now. Between
// our writes another writer may have appended to it (the previous owner of
// the partition finishing a write late, a replay into the same directory),
// rotated it away, or died mid-line; then what we knew of its content is
// stale, and the tail is repaired and read back again.
func (s *Sink) refresh(pf *partFile, p int32) error {
	if pf.f != nil {
		st, err := os.Stat(s.current(p))
		fst, ferr := pf.f.Stat()
		switch {
		case err != nil || ferr != nil || !os.SameFile(st, fst):
			pf.f.Close()
			pf.f = nil
		case fst.Size() != pf.size:
			size, err := repairTail(pf.f)
			if err != nil {
				pf.f.Close()
				pf.f = nil
				return fmt.Errorf("repairing %s: %w", s.current(p), err)
			}
			pf.size, pf.scanned = size, false
		}
	}
	if pf.f == nil {
		if err := s.open(pf, p); err != nil {
			return err
		}
		pf.scanned = false
	}
	return nil
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
	if pf.f == nil { // rotated
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
// of an old one. It fsyncs the directory, which makes a new file's name
// durable before anything written to it is reported delivered.
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
	if err := s.syncDir(s.cfg.Dir); err != nil {
		f.Close()
		return fmt.Errorf("syncing file sink dir: %w", err)
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
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return size, nil
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
				if err := f.Truncate(keep); err != nil {
					return 0, err
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
	// The rename must be durable before the new current file is: a crash
	// must not bring back the old name over the new file.
	if err := s.syncDir(s.cfg.Dir); err != nil {
		return fmt.Errorf("syncing file sink dir: %w", err)
	}
	s.m.rotations.Inc()
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
		// With O_APPEND the next write lands at the new end.
		if n > 0 && pf.f.Truncate(pf.size) != nil {
			pf.f.Close()
			pf.f = nil // the reopen repairs the tail and reads it back
		}
		return fmt.Errorf("writing file sink file: %w", err)
	}
	pf.size += int64(n)
	return nil
}

// ReleasePartition closes p's file and gives up its lock. The runtime
// calls it (sinks.PartitionReleaser) when p is revoked or lost, after p's
// last write returned: the next owner, another member or this one again,
// appends after whatever was written meanwhile.
func (s *Sink) ReleasePartition(p int32) error {
	s.mu.Lock()
	pf := s.files[p]
	delete(s.files, p)
	s.mu.Unlock()
	if pf == nil {
		return nil
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.close()
}

// close closes the file and then releases the lock.
func (pf *partFile) close() error {
	var errs []error
	if pf.f != nil {
		errs = append(errs, pf.f.Close())
		pf.f = nil
	}
	if pf.lock != nil {
		errs = append(errs, pf.lock.Close())
		pf.lock = nil
	}
	pf.seen, pf.scanned = nil, false
	return errors.Join(errs...)
}

// DestinationNeeds: the file sink reads no part of the destination (the
// partition names its file).
func (s *Sink) DestinationNeeds() router.Need { return 0 }

// WritesBacklog: a write costs an fsync whatever its size, so the runtime
// hands the sink up to four batches of a partition's backlog at once
// (sinks.BacklogWriter).
func (s *Sink) WritesBacklog() bool { return true }

// Close closes every open file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for p, pf := range s.files {
		pf.mu.Lock()
		errs = append(errs, pf.close())
		pf.mu.Unlock()
		delete(s.files, p)
	}
	return errors.Join(errs...)
}
