package file

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/document"
)

// offsetKey starts the last field of every line: the record's offset in
// the enriched topic, which lets a new owner of the partition find the
// records a redelivery sends again.
const offsetKey = `,"enriched_offset":`

// appendLine appends r's document, with its enriched offset as the last
// field, and a newline.
func appendLine(b []byte, r *sinks.Record) []byte {
	b = document.Append(b, r.Enriched)
	b = b[:len(b)-1] // the document's closing brace
	b = append(b, offsetKey...)
	b = strconv.AppendInt(b, r.Offset, 10)
	return append(b, '}', '\n')
}

// lineOffset returns the enriched offset a line (without its newline) ends
// with; false for lines written before lines carried one. Inside JSON
// strings every quote is escaped, so the key cannot occur unescaped in a
// value, and it is always the last field.
func lineOffset(line []byte) (int64, bool) {
	i := bytes.LastIndex(line, []byte(offsetKey))
	if i < 0 || line[len(line)-1] != '}' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line[i+len(offsetKey):len(line)-1]), 10, 64)
	return n, err == nil && n >= 0
}

// recordIDKey follows the fixed-width @timestamp that opens every line.
const recordIDKey = `,"record_id":`

// lineID returns the record_id of a line as a JSON string, quotes
// included, the form encodedID compares with; `""` when it has none.
func lineID(line []byte) string {
	i := bytes.Index(line, []byte(recordIDKey))
	// The field sits right after {"@timestamp":"<30 characters>"; a later
	// match would be an attribute's key.
	if i < 0 || i > 64 {
		return `""`
	}
	start := i + len(recordIDKey)
	if start >= len(line) || line[start] != '"' {
		return `""`
	}
	for j := start + 1; j < len(line); j++ {
		switch line[j] {
		case '\\':
			j++
		case '"':
			return string(line[start : j+1])
		}
	}
	return `""`
}

// encodedID renders id as lineID returns it.
func encodedID(b []byte, id string) []byte {
	return document.AppendString(b[:0], id)
}

// scanBack calls fn with each complete line of f's first size bytes, last
// line first, until fn returns false or the budget of bytes to read runs
// out (then it returns errBudget). size must end after a newline.
func scanBack(f io.ReaderAt, size int64, budget *int64, fn func(line []byte) bool) error {
	const chunk = 64 << 10
	if size == 0 {
		return nil
	}
	end := size - 1 // the final newline
	var rest []byte // the start of the line that ends at end
	buf := make([]byte, chunk)
	for {
		start := max(end-chunk, 0)
		if *budget -= end - start; *budget < 0 {
			return errBudget
		}
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !(err == io.EOF && int64(n) == end-start) {
			return err
		}
		data := append(buf[:n:n], rest...)
		lineEnd := len(data)
		for j := len(data) - 1; j >= 0; j-- {
			if data[j] == '\n' {
				if lineEnd > j+1 && !fn(data[j+1:lineEnd]) {
					return nil
				}
				lineEnd = j
			}
		}
		if start == 0 {
			if lineEnd > 0 {
				fn(data[:lineEnd])
			}
			return nil
		}
		rest = append(rest[:0:0], data[:lineEnd]...)
		end = start
	}
}

var errBudget = fmt.Errorf("scan budget exhausted")

// window indexes the lines of p's files whose enriched offset is at or
// after from (the first offset of the first write of an ownership: what a
// redelivery may send again): offset -> record_id as lineID returns it.
// It reads backward from the end of the current file, then through the
// rotated files, newest first, and stops at the first line below from, at
// a line without an offset (written by an older version), or after reading
// scanBudget bytes. In normal operation it reads only the last line.
func (s *Sink) window(pf *partFile, p int32, from int64) (map[int64]string, int64, error) {
	seen := map[int64]string{}
	maxOff := int64(-1)
	budget := s.scanBudget()
	done := false
	visit := func(line []byte) bool {
		off, ok := lineOffset(line)
		if !ok || off < from {
			done = true
			return false
		}
		seen[off] = lineID(line)
		maxOff = max(maxOff, off)
		return true
	}
	if err := scanBack(pf.f, pf.size, &budget, visit); err != nil {
		return seen, maxOff, stopOnBudget(err)
	}
	if done {
		return seen, maxOff, nil
	}
	rotated, err := s.rotated(p)
	if err != nil {
		return seen, maxOff, err
	}
	for _, name := range rotated {
		if err := scanFile(name, &budget, visit); err != nil {
			return seen, maxOff, stopOnBudget(err)
		}
		if done {
			break
		}
	}
	return seen, maxOff, nil
}

// scanBudget bounds reading back: twice max_bytes, at least 64 MiB. A
// redelivery reaching further back (an operator rewound the group's
// offsets) writes the older records again.
func (s *Sink) scanBudget() int64 { return max(2*s.cfg.MaxBytes, 64<<20) }

func stopOnBudget(err error) error {
	if err == errBudget {
		return nil // older records, if sent again, are written again
	}
	return err
}

func scanFile(name string, budget *int64, fn func(line []byte) bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	// A rotated file is complete, but be safe about a torn last line.
	if size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			return nil
		}
	}
	return scanBack(f, size, budget, fn)
}

// rotated lists p's rotated files, the one with the highest last offset
// first. Their names carry the rotating member's clock, which another
// member's clock need not agree with; the offsets always do. Files whose
// last line has no offset are left out.
func (s *Sink) rotated(p int32) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(s.cfg.Dir, fmt.Sprintf("p%03d-*.ndjson", p)))
	if err != nil {
		return nil, err
	}
	type file struct {
		name string
		last int64
	}
	var files []file
	for _, name := range names {
		last := int64(-1)
		budget := int64(1 << 30)
		err := scanFile(name, &budget, func(line []byte) bool {
			if off, ok := lineOffset(line); ok {
				last = off
			}
			return false
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if last >= 0 {
			files = append(files, file{name, last})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].last > files[j].last })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.name
	}
	return out, nil
}
