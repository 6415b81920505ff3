package condition

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/expr-lang/expr/ast"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// durPrefix names the placeholders the prepass puts where duration
// literals were; the rewriter turns them into constants.
const durPrefix = "_lw_dur"

// prepass replaces the duration literals of src (10s, 250ms, 1h30m), which
// expr-lang does not read, by placeholders. It returns the new text, for
// each of its runes (and its end) the rune offset in src it came from, and
// the durations by placeholder index.
func prepass(src string) (string, []int, []time.Duration, *Error) {
	rs := []rune(src)
	var b strings.Builder
	var pos []int
	var durs []time.Duration
	emit := func(s string, from int) {
		for range []rune(s) {
			pos = append(pos, from)
		}
		b.WriteString(s)
	}
	isWord := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			j = min(j+1, len(rs))
			for k := i; k < j; k++ {
				emit(string(rs[k]), k)
			}
			i = j
		case unicode.IsDigit(r) && (i == 0 || !isWord(rs[i-1]) && rs[i-1] != '.'):
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == '_') {
				j++
			}
			// A unit follows (not an exponent or a base prefix): a
			// duration, possibly of several parts.
			if j < len(rs) && unicode.IsLetter(rs[j]) && !isExponent(rs, j) && !(j == i+1 && r == '0' && strings.ContainsRune("xXoObB", rs[j])) {
				k := j
				for k < len(rs) && (isWord(rs[k]) || rs[k] == '.' || rs[k] == 'µ') {
					k++
				}
				d, err := time.ParseDuration(string(rs[i:k]))
				if err != nil {
					return "", nil, nil, errorAt(src, i, "bad duration %q (use e.g. 250ms, 10s, 2m, 1h30m)", string(rs[i:k]))
				}
				emit(fmt.Sprintf("%s%d", durPrefix, len(durs)), i)
				durs = append(durs, d)
				i = k
				continue
			}
			for k := i; k < j; k++ {
				emit(string(rs[k]), k)
			}
			i = j
		default:
			emit(string(r), i)
			i++
		}
	}
	pos = append(pos, len(rs))
	return b.String(), pos, durs, nil
}

func isExponent(rs []rune, j int) bool {
	if rs[j] != 'e' && rs[j] != 'E' || j+1 >= len(rs) {
		return false
	}
	n := rs[j+1]
	if (n == '+' || n == '-') && j+2 < len(rs) {
		n = rs[j+2]
	}
	return unicode.IsDigit(n)
}

// rewriter turns logweave's syntax into expr-lang calls. It runs as an
// expr-lang patcher, children before parents; the first error is kept with
// the offset (in the prepassed text) it is about.
type rewriter struct {
	lits   []time.Duration
	fields []string
	err    error
	errAt  int
	// calls are the calls the rewriter made: a field read, or an
	// attribute lookup (field nil).
	calls map[*ast.CallNode]callKind
}

type callKind struct {
	field *field
	attr  bool
}

func (w *rewriter) fail(n ast.Node, format string, args ...any) {
	if w.err == nil {
		w.err, w.errAt = fmt.Errorf(format, args...), n.Location().From
	}
}

func (w *rewriter) use(name string) {
	for _, f := range w.fields {
		if f == name {
			return
		}
	}
	w.fields = append(w.fields, name)
}

// Visit implements ast.Visitor.
func (w *rewriter) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if f, ok := fieldsByName[n.Value]; ok {
			w.use(f.name)
			ast.Patch(node, w.fieldCall(f, n))
		} else if rank := v1.LevelRank(n.Value); rank > 0 {
			ast.Patch(node, &ast.IntegerNode{Value: rank})
		} else if i, ok := strings.CutPrefix(n.Value, durPrefix); ok {
			k, _ := strconv.Atoi(i)
			if k < len(w.lits) {
				ast.Patch(node, &ast.ConstantNode{Value: w.lits[k]})
			}
		}
	case *ast.MemberNode:
		w.member(node, n)
	case *ast.BinaryNode:
		w.binary(node, n)
	}
}

// member rewrites span.x, attr["k"] and resource["k"].
func (w *rewriter) member(node *ast.Node, n *ast.MemberNode) {
	id, ok := n.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	key, isStr := n.Property.(*ast.StringNode)
	switch id.Value {
	case "span":
		if !isStr {
			w.fail(n.Property, "span fields are named: span.duration, span.status, ...")
			return
		}
		f, ok := fieldsByName["span."+key.Value]
		if !ok {
			w.fail(n.Property, "unknown field %q", "span."+key.Value)
			return
		}
		w.use(f.name)
		ast.Patch(node, w.fieldCall(f, n))
	case "attr", "resource":
		if !isStr {
			w.fail(n.Property, `%s keys are strings: %s["key"]`, id.Value, id.Value)
			return
		}
		w.use(id.Value)
		fn := attrFunc
		if id.Value == "resource" {
			fn = resourceFunc
		}
		c := call(n, fn, envNode(n), &ast.StringNode{Value: key.Value})
		w.calls[c] = callKind{attr: true}
		ast.Patch(node, c)
	}
}

// binary rewrites what expr-lang would read otherwise: a leading not
// (looser than comparisons), level names given as strings, ordering of
// values that may be missing, and text operators on attribute values.
func (w *rewriter) binary(node *ast.Node, n *ast.BinaryNode) {
	if comparison[n.Operator] {
		if u, ok := n.Left.(*ast.UnaryNode); ok && (u.Operator == "not" || u.Operator == "!") {
			// (not a) == b parses tighter than the rule syntax reads it.
			inner := &ast.BinaryNode{Operator: n.Operator, Left: u.Node, Right: n.Right}
			inner.SetLocation(n.Location())
			var in ast.Node = inner
			w.binary(&in, inner)
			ast.Patch(node, &ast.UnaryNode{Operator: u.Operator, Node: in})
			return
		}
	}
	switch n.Operator {
	case "==", "!=":
		w.levelStrings(n.Left, &n.Right)
		w.levelStrings(n.Right, &n.Left)
		for _, p := range [][2]ast.Node{{n.Left, n.Right}, {n.Right, n.Left}} {
			if eq := w.textOp("==", p[0], p[1]); eq != nil {
				if n.Operator == "!=" {
					eq = &ast.UnaryNode{Operator: "not", Node: eq}
				}
				ast.Patch(node, eq)
				return
			}
		}
	case "in", "not in":
		if w.isField(n.Left, "level") {
			if arr, ok := n.Right.(*ast.ArrayNode); ok {
				for i := range arr.Nodes {
					w.levelStrings(n.Left, &arr.Nodes[i])
				}
			}
		}
	case "<", "<=", ">", ">=":
		for _, p := range [][2]ast.Node{{n.Left, n.Right}, {n.Right, n.Left}} {
			if f := w.fieldOf(p[0]); f != nil && f.typ == typeDuration {
				switch p[1].(type) {
				case *ast.IntegerNode, *ast.FloatNode:
					w.fail(p[1], "%s compares with a duration (e.g. 10s, 250ms), not a plain number", f.name)
					return
				}
			}
		}
		if w.mayBeMissing(n.Left) || w.mayBeMissing(n.Right) {
			ast.Patch(node, call(n, orderFuncs[n.Operator], n.Left, n.Right))
		}
	case "contains", "matches", "startsWith", "endsWith":
		if c := w.textOp(n.Operator, n.Left, n.Right); c != nil {
			ast.Patch(node, c)
			return
		}
		for _, side := range []*ast.Node{&n.Left, &n.Right} {
			if w.mayBeMissing(*side) {
				*side = call(*side, textFunc, *side)
			}
		}
	}
}

var comparison = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"in": true, "not in": true, "contains": true, "matches": true, "startsWith": true, "endsWith": true}

// levelStrings turns a level name given as a string into its rank where
// the other side is the level field.
func (w *rewriter) levelStrings(other ast.Node, n *ast.Node) {
	if s, ok := (*n).(*ast.StringNode); ok && w.isField(other, "level") {
		if rank := v1.LevelRank(s.Value); rank > 0 {
			ast.Patch(n, &ast.IntegerNode{Value: rank})
		}
	}
}

// textOp is op (==, contains, startsWith, endsWith) of a text field and a
// string literal as one call, or nil.
func (w *rewriter) textOp(op string, fieldNode, lit ast.Node) ast.Node {
	f := w.fieldOf(fieldNode)
	if _, ok := lit.(*ast.StringNode); !ok || f == nil || f.typ != typeString || textOpFuncs[op] == nil {
		return nil
	}
	return call(fieldNode, textOpFuncs[op][f], envNode(fieldNode), lit)
}

// fieldCall reads field f of $env.
func (w *rewriter) fieldCall(f *field, at ast.Node) ast.Node {
	c := call(at, fieldFuncs[f], envNode(at))
	w.calls[c] = callKind{field: f}
	return c
}

// call calls the Go function fn, put into the tree as a constant.
func call(at ast.Node, fn any, args ...ast.Node) *ast.CallNode {
	c := &ast.CallNode{Callee: &ast.ConstantNode{Value: fn}, Arguments: args}
	c.SetLocation(at.Location())
	c.Callee.SetLocation(at.Location())
	return c
}

func envNode(at ast.Node) ast.Node {
	n := &ast.IdentifierNode{Value: "$env"}
	n.SetLocation(at.Location())
	return n
}

// fieldOf is the field a node reads, or nil.
func (w *rewriter) fieldOf(n ast.Node) *field {
	if c, ok := n.(*ast.CallNode); ok {
		return w.calls[c].field
	}
	return nil
}

func (w *rewriter) isField(n ast.Node, name string) bool {
	f := w.fieldOf(n)
	return f != nil && f.name == name
}

// mayBeMissing says whether a node reads a value that can be nil or of
// any type: span.duration, submission_seq, attr and resource values.
func (w *rewriter) mayBeMissing(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	k := w.calls[c]
	return k.attr || k.field != nil && k.field.nullable()
}
