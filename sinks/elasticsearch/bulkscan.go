package elasticsearch

import (
	"bytes"
	"unicode/utf8"
)

// scanBulkStatuses reads the item statuses of a bulk response without
// encoding/json (15% of the es sink's CPU in logweave bench was decoding
// these responses), for the common answer only: a JSON object whose
// "items" are objects of one operation each with an integer "status" and
// no "error". Anything else (an item with an error, a key that
// encoding/json would match case-insensitively, escapes in keys, malformed
// JSON) returns ok false, and the caller decodes with encoding/json, whose
// verdict stands; TestScanBulkStatuses_MatchesDecode and FuzzScanBulkStatuses
// hold the two to the same results. Like json.Decoder, it reads the first
// value and ignores what follows.
func scanBulkStatuses(b []byte, statuses []int) ([]int, bool) {
	s := scanner{b: b}
	statuses = statuses[:0]
	if !s.object(func(key []byte) bool {
		if string(key) == "errors" {
			return s.lit("true") || s.lit("false")
		}
		if string(key) == "items" {
			statuses = statuses[:0] // a repeated key: the last counts, as in encoding/json
			return s.array(func() bool {
				st, ok := s.item()
				statuses = append(statuses, st)
				return ok
			})
		}
		if !s.plainKey(key) {
			return false
		}
		return s.skip()
	}) {
		return nil, false
	}
	return statuses, true
}

// scanner walks JSON bytes.
type scanner struct {
	b     []byte
	i     int
	depth int // objects and arrays open
}

// maxDepth bounds the nesting the scanner follows (recursively): deeper
// goes to encoding/json, which refuses past its own limit (10000) instead
// of overflowing the stack.
const maxDepth = 100

// interesting are the names the decode path reads: a key equal to one of
// them ignoring case (as encoding/json matches them, Unicode folding
// included), but not exactly, would be read by encoding/json.
var interesting = [][]byte{[]byte("errors"), []byte("items"), []byte("create"), []byte("index"), []byte("update"),
	[]byte("delete"), []byte("status"), []byte("error"), []byte("type"), []byte("reason")}

// plainKey says whether key is one encoding/json would ignore.
func (s *scanner) plainKey(key []byte) bool {
	if len(key) < 4 || len(key) > 6 {
		// The names are 4 to 6 ASCII bytes: a key of another length
		// folds to one of them only through non-ASCII letters (the
		// Kelvin sign, the long s).
		if ascii(key) {
			return true
		}
	}
	for _, n := range interesting {
		if bytes.EqualFold(key, n) {
			return false
		}
	}
	return true
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// item reads {"<op>":{... "status":N ...}} with op one of the four.
func (s *scanner) item() (int, bool) {
	status, ops := -1, 0
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "create", "index", "update", "delete":
		default:
			return false
		}
		ops++
		return ops == 1 && s.object(func(key []byte) bool {
			if string(key) == "status" {
				n, ok := s.integer()
				status = n
				return ok
			}
			return s.plainKey(key) && s.skip()
		})
	})
	return status, ok && ops == 1 && status >= 0
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads an object, calling member after each key and its colon.
func (s *scanner) object(member func(key []byte) bool) bool {
	if s.peek() != '{' || s.depth >= maxDepth {
		return false
	}
	s.depth++
	defer func() { s.depth-- }()
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		key, ok := s.key()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		if !member(key) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// array reads an array, calling elem at each element.
func (s *scanner) array(elem func() bool) bool {
	if s.peek() != '[' || s.depth >= maxDepth {
		return false
	}
	s.depth++
	defer func() { s.depth-- }()
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// key reads a string without escapes (a key with one is not ours).
func (s *scanner) key() ([]byte, bool) {
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// integer reads a non-negative integer that fits an int (status codes).
func (s *scanner) integer() (int, bool) {
	s.ws()
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-start < 9 {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	if s.i == start || (s.b[start] == '0' && s.i-start > 1) {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, false // a float, or too long: encoding/json decides
		}
	}
	return n, true
}

// skip passes over one value, checking its syntax.
func (s *scanner) skip() bool {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) bool { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		return s.str()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

func (s *scanner) lit(w string) bool {
	s.ws()
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

func (s *scanner) str() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(s.b) {
				return false
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) {
					return false
				}
				for _, h := range s.b[j+1 : j+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

// number checks -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	b, i := s.b, s.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	s.i = i
	return true
}
