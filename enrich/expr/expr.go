// Package expr is the small expression language of logweave's sampling
// rules, for example:
//
//	level >= error or span.status == "error"
//	stage == "judge" and span.duration > 10s
//	attr["http.status_code"] in [500, 502, 504]
//	body contains "OOMKilled"
//
// Operators, lowest precedence first: or; and; not; comparisons (== != < <=
// > >= in contains matches). Values are strings, numbers, durations (10s,
// 250ms: compared with span.duration), levels (trace debug info warn error
// fatal, ordered), booleans, lists and missing (a field the record does not
// have, which equals nothing and orders with nothing). An expression is
// parsed once; errors point at the column.
package expr

import (
	"fmt"
	"regexp"
	"strings"
)

// Env supplies field values to an expression. Field returns the value of
// a field path such as "level", "span.duration" or attr["k"] (name "attr",
// key "k"), and false when the record has no such field.
type Env interface {
	Field(name, key string) (Value, bool)
}

// Kind is a value's type.
type Kind uint8

// Kinds of values.
const (
	Missing Kind = iota
	String
	Number
	Duration // nanoseconds in Num
	Level    // rank in Num
	Bool
	List
)

// Value is a dynamically typed value.
type Value struct {
	Kind Kind
	Str  string
	Num  float64
	B    bool
	List []Value
}

// Str returns a string value.
func Str(s string) Value { return Value{Kind: String, Str: s} }

// Num returns a number value.
func Num(f float64) Value { return Value{Kind: Number, Num: f} }

// Dur returns a duration value of ns nanoseconds.
func Dur(ns int64) Value { return Value{Kind: Duration, Num: float64(ns)} }

// Lvl returns a level value; rank orders levels (trace 1 ... fatal 6).
func Lvl(rank int) Value { return Value{Kind: Level, Num: float64(rank)} }

// Levels in order; a level's rank is its index + 1.
var Levels = []string{"trace", "debug", "info", "warn", "error", "fatal"}

// LevelRank returns the rank of a level name, 0 when unknown.
func LevelRank(name string) int {
	for i, l := range Levels {
		if l == name {
			return i + 1
		}
	}
	return 0
}

// Fields lists the field names an expression may use, for validation.
var Fields = map[string]bool{
	"kind": true, "level": true, "service": true, "body": true, "stage": true, "log_type": true,
	"submit_id": true, "user_id": true, "problem_id": true, "lang": true, "submission_seq": true,
	"namespace": true, "pod": true, "node": true, "cluster": true,
	"span.name": true, "span.status": true, "span.status_message": true, "span.duration": true, "span.kind": true,
	"attr": true, "resource": true,
}

// Expr is a parsed expression.
type Expr struct {
	src  string
	root node
}

// String returns the source.
func (e *Expr) String() string { return e.src }

// Eval evaluates the expression to a boolean; non-boolean results are
// false.
func (e *Expr) Eval(env Env) bool {
	v := e.root.eval(env)
	return v.Kind == Bool && v.B
}

// Fields returns the names of the fields the expression reads (attr and
// resource once each, whatever their keys), so that a caller can tell what
// a result depends on.
func (e *Expr) Fields() []string {
	seen := map[string]bool{}
	var out []string
	var walk func(n node)
	walk = func(n node) {
		switch x := n.(type) {
		case field:
			if !seen[x.name] {
				seen[x.name] = true
				out = append(out, x.name)
			}
		case not:
			walk(x.x)
		case logical:
			walk(x.l)
			walk(x.r)
		case compare:
			walk(x.l)
			walk(x.r)
		}
	}
	walk(e.root)
	return out
}

// Requires returns the string a field must equal for the expression to be
// true, when one of the conjuncts of its top-level "and" chain (or the
// whole expression) is field == "literal": e.g. "span" for
// `kind == "span" and span.duration > 10s`.
func (e *Expr) Requires(name string) (string, bool) {
	var find func(n node) (string, bool)
	find = func(n node) (string, bool) {
		switch x := n.(type) {
		case logical:
			if !x.and {
				return "", false
			}
			if v, ok := find(x.l); ok {
				return v, true
			}
			return find(x.r)
		case compare:
			f, fok := x.l.(field)
			l, lok := x.r.(literal)
			if x.op == "==" && fok && lok && f.name == name && l.v.Kind == String {
				return l.v.Str, true
			}
		}
		return "", false
	}
	return find(e.root)
}

// Error is a parse error with its 1-based column.
type Error struct {
	Col int
	Msg string
	Src string
}

func (e *Error) Error() string {
	return fmt.Sprintf("column %d: %s\n  %s\n  %s^", e.Col, e.Msg, e.Src, strings.Repeat(" ", e.Col-1))
}

type node interface {
	eval(Env) Value
}

type literal struct{ v Value }

func (l literal) eval(Env) Value { return l.v }

type field struct{ name, key string }

func (f field) eval(env Env) Value {
	v, ok := env.Field(f.name, f.key)
	if !ok {
		return Value{}
	}
	return v
}

type not struct{ x node }

func (n not) eval(env Env) Value {
	v := n.x.eval(env)
	return Value{Kind: Bool, B: !(v.Kind == Bool && v.B)}
}

type logical struct {
	and  bool
	l, r node
}

func (o logical) eval(env Env) Value {
	l := o.l.eval(env)
	lb := l.Kind == Bool && l.B
	if o.and && !lb {
		return Value{Kind: Bool}
	}
	if !o.and && lb {
		return Value{Kind: Bool, B: true}
	}
	r := o.r.eval(env)
	return Value{Kind: Bool, B: r.Kind == Bool && r.B}
}

type compare struct {
	op   string
	l, r node
	re   *regexp.Regexp // for matches with a literal pattern
}

func (c compare) eval(env Env) Value {
	l, r := c.l.eval(env), c.r.eval(env)
	return Value{Kind: Bool, B: c.test(l, r)}
}

func (c compare) test(l, r Value) bool {
	if l.Kind == Missing {
		return c.op == "!=" && r.Kind != Missing
	}
	switch c.op {
	case "==":
		return equal(l, r)
	case "!=":
		return !equal(l, r)
	case "in":
		for _, e := range r.List {
			if equal(l, e) {
				return true
			}
		}
		return false
	case "contains":
		if l.Kind == List {
			for _, e := range l.List {
				if equal(e, r) {
					return true
				}
			}
			return false
		}
		return l.Kind == String && r.Kind == String && strings.Contains(l.Str, r.Str)
	case "matches":
		return l.Kind == String && c.re != nil && c.re.MatchString(l.Str)
	}
	ln, lok := ordered(l)
	rn, rok := ordered(r)
	if !lok || !rok || !comparable(l.Kind, r.Kind) {
		return false
	}
	switch c.op {
	case "<":
		return ln < rn
	case "<=":
		return ln <= rn
	case ">":
		return ln > rn
	case ">=":
		return ln >= rn
	}
	return false
}

func ordered(v Value) (float64, bool) {
	switch v.Kind {
	case Number, Duration, Level:
		return v.Num, true
	}
	return 0, false
}

// comparable allows numbers with numbers, durations with durations, levels
// with levels; a plain number also compares with a duration as seconds is
// not assumed, so 10 never silently means 10ns.
func comparable(a, b Kind) bool { return a == b }

func equal(a, b Value) bool {
	switch {
	case a.Kind == String && b.Kind == String:
		return a.Str == b.Str
	case a.Kind == Bool && b.Kind == Bool:
		return a.B == b.B
	case a.Kind == b.Kind && (a.Kind == Number || a.Kind == Duration || a.Kind == Level):
		return a.Num == b.Num
	case a.Kind == Level && b.Kind == String:
		return a.Num == float64(LevelRank(b.Str))
	case a.Kind == String && b.Kind == Number:
		return a.Str == trimFloat(b.Num)
	case a.Kind == Number && b.Kind == String:
		return trimFloat(a.Num) == b.Str
	}
	return false
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", f), "0"), ".")
}
