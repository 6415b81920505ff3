package router

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/logweave/logweave/condition"
)

// pattern is a parsed index or tenant pattern: literal text, {field} and
// date tokens.
type pattern []part

type part struct {
	literal string
	field   string // a record field, or ""
	layout  string // a Go time layout for a date token, or ""
}

// parsePattern parses "logweave-{kind}-{yyyy.MM.dd}".
func parsePattern(s string) (pattern, error) {
	var p pattern
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.ContainsRune(s, '}') {
				return nil, fmt.Errorf("unmatched }")
			}
			p = append(p, part{literal: s})
			break
		}
		if i > 0 {
			if strings.ContainsRune(s[:i], '}') {
				return nil, fmt.Errorf("unmatched }")
			}
			p = append(p, part{literal: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unterminated {")
		}
		tok := s[i+1 : i+j]
		switch {
		case contains(patternFields, tok):
			p = append(p, part{field: tok})
		case isDateToken(tok):
			p = append(p, part{layout: dateLayout(tok)})
		default:
			return nil, fmt.Errorf("{%s} is neither a field (%s) nor a date like {yyyy.MM.dd}", tok, strings.Join(patternFields, ", "))
		}
		s = s[i+j+1:]
	}
	return p, nil
}

var dateToken = regexp.MustCompile(`^(yyyy|MM|dd|HH)([.\-_]?(yyyy|MM|dd|HH))*$`)

func isDateToken(tok string) bool { return dateToken.MatchString(tok) }

// dateLayout turns yyyy.MM.dd into a Go layout.
func dateLayout(tok string) string {
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15")
	return r.Replace(tok)
}

// checkIndexPattern rejects patterns that could render an index name
// Elasticsearch refuses: its literal text must be lowercase and free of
// \ / * ? " < > | space , # :, and it must not start with -, _ or +.
// Field values are made safe at render time.
func checkIndexPattern(s string) error {
	p, err := parsePattern(s)
	if err != nil {
		return err
	}
	if len(p) > 0 && p[0].literal != "" && strings.ContainsAny(p[0].literal[:1], "-_+.") {
		return fmt.Errorf("%q: an index name must not start with '-', '_', '+' or '.' (Elasticsearch rejects it)", s)
	}
	for _, pt := range p {
		for _, r := range pt.literal {
			if r >= 'A' && r <= 'Z' {
				return fmt.Errorf("%q: index names must be lowercase", s)
			}
			if strings.ContainsRune(`\/*?"<>| ,#:`, r) {
				return fmt.Errorf("%q: %q is not allowed in an index name", s, r)
			}
		}
	}
	return nil
}

// render expands the pattern for a record. sanitize makes each field value
// safe for the destination.
func (p pattern) render(get func(string) string, at time.Time, sanitize func(string) string) string {
	var b strings.Builder
	for _, pt := range p {
		switch {
		case pt.field != "":
			b.WriteString(sanitize(get(pt.field)))
		case pt.layout != "":
			b.WriteString(at.UTC().Format(pt.layout))
		default:
			b.WriteString(pt.literal)
		}
	}
	return b.String()
}

// cachedPattern renders a pattern through a small cache of its recent
// results: records of one hour and the same field values render to the
// same name (date tokens go down to the hour), and a stream has few of
// those, so the name is built (and allocated) once per combination
// instead of once per record.
type cachedPattern struct {
	p        pattern
	sanitize func(string) string
	fields   int // field parts in p
	// recent results, newest first; replaced as a whole (copy on write)
	// so that concurrent readers need no lock.
	recent atomic.Pointer[[]renderedName]
}

// renderedName is one cached result: the hour of the event time (in
// hours since the Unix epoch, as the signed time renders) and the raw field values it was made from.
type renderedName struct {
	hour uint64
	vals []string
	name string
}

// maxRecentNames bounds the cache; past it the oldest result is dropped.
const maxRecentNames = 16

// maxCachedFields: patterns with more field parts render uncached.
const maxCachedFields = 8

func newCachedPattern(p pattern, sanitize func(string) string) *cachedPattern {
	c := &cachedPattern{p: p, sanitize: sanitize}
	for _, pt := range p {
		if pt.field != "" {
			c.fields++
		}
	}
	return c
}

// render is the pattern for rec, whose event time is atNanos.
func (c *cachedPattern) render(rec *condition.Record, atNanos uint64) string {
	var buf [maxCachedFields]string
	vals := buf[:0]
	for _, pt := range c.p {
		if pt.field != "" {
			vals = append(vals, rec.Text(pt.field))
		}
	}
	i := 0
	next := func(string) string { v := vals[i]; i++; return v }
	at := time.Unix(0, int64(atNanos))
	if c.fields > maxCachedFields {
		return c.p.render(next, at, c.sanitize)
	}
	// The hour the time renders in: time.Unix(0, int64(atNanos)), so a
	// time from 2^63 ns on is before 1970, and its hour is the floor of
	// the signed division (uint64 hours would straddle rendered hours).
	ns := int64(atNanos)
	hour := uint64(ns / int64(time.Hour))
	if ns%int64(time.Hour) < 0 {
		hour--
	}
	var recent []renderedName
	if r := c.recent.Load(); r != nil {
		recent = *r
	}
	for i := range recent {
		if recent[i].hour == hour && equalStrings(recent[i].vals, vals) {
			return recent[i].name
		}
	}
	name := c.p.render(next, at, c.sanitize)
	fresh := make([]renderedName, 0, min(len(recent)+1, maxRecentNames))
	kept := make([]string, len(vals))
	for i, v := range vals {
		// The values may point into a record's buffer (sinks decode
		// without copying); the cache outlives it.
		kept[i] = strings.Clone(v)
	}
	fresh = append(fresh, renderedName{hour: hour, vals: kept, name: name})
	fresh = append(fresh, recent[:min(len(recent), maxRecentNames-1)]...)
	c.recent.Store(&fresh)
	return name
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// indexSafe lowercases a field value and replaces characters Elasticsearch
// refuses in index names with '_'; an empty value becomes "unknown".
func indexSafe(s string) string {
	if s == "" {
		return "unknown"
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if strings.ContainsRune(`\/*?"<>| ,#:`, r) || r < 0x20 {
			b.WriteByte('_')
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 100 {
		out = out[:100]
	}
	return out
}

func asIs(s string) string { return s }
