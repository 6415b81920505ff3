package condition

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Condition is a compiled condition. It is immutable and safe for
// concurrent use.
type Condition struct {
	src    string
	prog   *vm.Program
	fields []string
	root   ast.Node // as parsed, before logweave's rewriting
}

// String returns the source.
func (c *Condition) String() string { return c.src }

// Fields returns the names of the fields the condition reads, in order of
// first use (attr and resource once each, whatever their keys), so that a
// caller can tell what a result depends on.
func (c *Condition) Fields() []string { return c.fields }

// Requires returns the string a field must equal for the condition to be
// true, when one of the conjuncts of its top-level "and" chain (or the
// whole condition) is field == "literal": e.g. "span" for
// `kind == "span" and span.duration > 10s`.
func (c *Condition) Requires(name string) (string, bool) {
	var conj []ast.Node
	var flatten func(n ast.Node)
	flatten = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "and" || b.Operator == "&&") {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		conj = append(conj, n)
	}
	flatten(c.root)
	for _, n := range conj {
		b, ok := n.(*ast.BinaryNode)
		if !ok || b.Operator != "==" {
			continue
		}
		for _, p := range [][2]ast.Node{{b.Left, b.Right}, {b.Right, b.Left}} {
			id, iok := p[0].(*ast.IdentifierNode)
			lit, lok := p[1].(*ast.StringNode)
			if iok && lok && id.Value == name {
				return lit.Value, true
			}
		}
	}
	return "", false
}

var machines = sync.Pool{New: func() any { return new(vm.VM) }}

// AcquireMachine takes a machine for EvalWith from a pool; give it back
// with ReleaseMachine. A caller evaluating several conditions on a record
// takes one machine for all.
func AcquireMachine() *vm.VM { return machines.Get().(*vm.VM) }

// ReleaseMachine returns a machine to the pool.
func ReleaseMachine(m *vm.VM) { machines.Put(m) }

// Eval evaluates the condition on r. A condition whose evaluation fails
// (arithmetic on a missing value, say) is false.
func (c *Condition) Eval(r *Record) bool {
	m := AcquireMachine()
	ok := c.EvalWith(m, r)
	ReleaseMachine(m)
	return ok
}

// EvalWith is Eval on a machine of the caller's, which no other goroutine
// may use at the same time.
func (c *Condition) EvalWith(m *vm.VM, r *Record) bool {
	out, err := m.Run(c.prog, (*env)(r))
	if err != nil {
		return false
	}
	b, _ := out.(bool)
	return b
}

// Error is a compile error with its 1-based line and column.
type Error struct {
	Line, Col int
	Msg       string
	Src       string
}

func (e *Error) Error() string {
	lines := strings.Split(e.Src, "\n")
	at := fmt.Sprintf("column %d", e.Col)
	line := e.Src
	if len(lines) > 1 {
		at = fmt.Sprintf("line %d, column %d", e.Line, e.Col)
		if e.Line >= 1 && e.Line <= len(lines) {
			line = lines[e.Line-1]
		}
	}
	return fmt.Sprintf("%s: %s\n  %s\n  %s^", at, e.Msg, line, strings.Repeat(" ", max(e.Col-1, 0)))
}

// errorAt is an Error at rune offset pos (0-based) of src.
func errorAt(src string, pos int, format string, args ...any) *Error {
	e := &Error{Line: 1, Col: 1, Msg: fmt.Sprintf(format, args...), Src: src}
	for i, r := range []rune(src) {
		if i == pos {
			break
		}
		if r == '\n' {
			e.Line, e.Col = e.Line+1, 1
		} else {
			e.Col++
		}
	}
	return e
}

// Compile compiles a condition. Errors are *Error.
func Compile(src string) (*Condition, error) {
	text, pos, lits, perr := prepass(src)
	if perr != nil {
		return nil, perr
	}
	tree, err := parser.Parse(text)
	if err != nil {
		return nil, exprError(src, pos, err)
	}
	rw := &rewriter{lits: lits, calls: map[*ast.CallNode]callKind{}}
	prog, err := expr.Compile(text, expr.Env(&env{}), expr.AsBool(), expr.Optimize(true), expr.Patch(rw))
	if rw.err != nil {
		return nil, errorAt(src, pos[min(rw.errAt, len(pos)-1)], "%s", rw.err)
	}
	if err != nil {
		return nil, exprError(src, pos, err)
	}
	return &Condition{src: src, prog: prog, fields: rw.fields, root: tree.Node}, nil
}

// exprError maps an expr-lang error back to the source before the
// prepass.
func exprError(src string, pos []int, err error) error {
	msg, at := err.Error(), 0
	var fe *file.Error
	if errors.As(err, &fe) {
		msg, at = fe.Message, max(fe.From, 0)
	}
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		msg = fmt.Sprintf("unknown field %q", name)
	}
	if strings.Contains(msg, `Operator("=")`) {
		msg += ` (did you mean "=="?)`
	}
	if strings.HasPrefix(msg, "expected bool, but got") {
		msg = "not a condition (" + msg + "): compare the value, e.g. stage == \"judge\""
	}
	return errorAt(src, pos[min(at, len(pos)-1)], "%s", msg)
}
