package expr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDuration
	tOp
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tDot
)

type token struct {
	kind tokKind
	text string
	col  int
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		col := i + 1
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks, i = append(toks, token{tLParen, "(", col}), i+1
		case c == ')':
			toks, i = append(toks, token{tRParen, ")", col}), i+1
		case c == '[':
			toks, i = append(toks, token{tLBrack, "[", col}), i+1
		case c == ']':
			toks, i = append(toks, token{tRBrack, "]", col}), i+1
		case c == ',':
			toks, i = append(toks, token{tComma, ",", col}), i+1
		case c == '.':
			toks, i = append(toks, token{tDot, ".", col}), i+1
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for j < len(src) && src[j] != c {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
				j++
			}
			if j >= len(src) {
				return nil, &Error{Col: col, Msg: "unterminated string", Src: src}
			}
			toks, i = append(toks, token{tString, b.String(), col}), j+1
		case c == '=' || c == '!' || c == '<' || c == '>':
			if i+1 < len(src) && src[i+1] == '=' {
				toks, i = append(toks, token{tOp, src[i : i+2], col}), i+2
			} else if c == '<' || c == '>' {
				toks, i = append(toks, token{tOp, src[i : i+1], col}), i+1
			} else {
				return nil, &Error{Col: col, Msg: fmt.Sprintf("unexpected %q (did you mean %q?)", c, string(c)+"="), Src: src}
			}
		case c >= '0' && c <= '9' || c == '-':
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			k := j
			for k < len(src) && unicode.IsLetter(rune(src[k])) {
				k++
			}
			if k > j {
				toks, i = append(toks, token{tDuration, src[i:k], col}), k
			} else {
				toks, i = append(toks, token{tNumber, src[i:j], col}), j
			}
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i + 1
			for j < len(src) && (src[j] == '_' || unicode.IsLetter(rune(src[j])) || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks, i = append(toks, token{tIdent, src[i:j], col}), j
		default:
			return nil, &Error{Col: col, Msg: fmt.Sprintf("unexpected character %q", c), Src: src}
		}
	}
	return append(toks, token{tEOF, "", len(src) + 1}), nil
}

type parser struct {
	src  string
	toks []token
	pos  int
}

// Parse parses an expression.
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %q after a complete expression (missing and/or?)", t.text)
	}
	return &Expr{src: src, root: n}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *parser) errAt(t token, format string, args ...any) error {
	return &Error{Col: t.col, Msg: fmt.Sprintf(format, args...), Src: p.src}
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == w
}

func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = logical{and: false, l: l, r: r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = logical{and: true, l: l, r: r}
	}
	return l, nil
}

func (p *parser) not() (node, error) {
	if p.isWord("not") {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return not{x: x}, nil
	}
	return p.cmp()
}

var compareOps = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "in": true, "contains": true, "matches": true}

func (p *parser) cmp() (node, error) {
	lt := p.peek()
	l, err := p.primary()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if !(t.kind == tOp || t.kind == tIdent && compareOps[t.text]) {
		if _, isField := l.(field); isField {
			return nil, p.errAt(lt, "%q is a field, not a condition: compare it, e.g. %s == \"...\"", lt.text, lt.text)
		}
		return l, nil
	}
	p.next()
	rt := p.peek()
	r, err := p.primary()
	if err != nil {
		return nil, err
	}
	// A bare level name on the right of level compares as a level.
	if f, ok := l.(field); ok && f.name == "level" {
		if lit, ok := r.(literal); ok && lit.v.Kind == String && LevelRank(lit.v.Str) > 0 {
			r = literal{Lvl(LevelRank(lit.v.Str))}
		}
	}
	c := compare{op: t.text, l: l, r: r}
	switch t.text {
	case "in":
		if lit, ok := r.(literal); !ok || lit.v.Kind != List {
			return nil, p.errAt(rt, "in needs a list, e.g. [500, 502]")
		}
	case "matches":
		lit, ok := r.(literal)
		if !ok || lit.v.Kind != String {
			return nil, p.errAt(rt, "matches needs a string pattern")
		}
		re, err := regexp.Compile(lit.v.Str)
		if err != nil {
			return nil, p.errAt(rt, "bad pattern: %v", err)
		}
		c.re = re
	}
	return c, nil
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c, "expected ) to close the ( at column %d", t.col)
		}
		return n, nil
	case tLBrack:
		var list []Value
		for {
			if p.peek().kind == tRBrack {
				p.next()
				return literal{Value{Kind: List, List: list}}, nil
			}
			et := p.peek()
			e, err := p.primary()
			if err != nil {
				return nil, err
			}
			lit, ok := e.(literal)
			if !ok {
				return nil, p.errAt(et, "list elements must be values")
			}
			list = append(list, lit.v)
			switch c := p.next(); c.kind {
			case tComma:
			case tRBrack:
				return literal{Value{Kind: List, List: list}}, nil
			default:
				return nil, p.errAt(c, "expected , or ] in a list")
			}
		}
	case tString:
		return literal{Str(t.text)}, nil
	case tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errAt(t, "bad number %q", t.text)
		}
		return literal{Num(f)}, nil
	case tDuration:
		d, err := time.ParseDuration(t.text)
		if err != nil {
			return nil, p.errAt(t, "bad duration %q (use e.g. 250ms, 10s, 2m)", t.text)
		}
		return literal{Dur(int64(d))}, nil
	case tIdent:
		return p.ident(t)
	case tEOF:
		return nil, p.errAt(t, "unexpected end of expression")
	}
	return nil, p.errAt(t, "unexpected %q", t.text)
}

func (p *parser) ident(t token) (node, error) {
	switch t.text {
	case "true", "false":
		return literal{Value{Kind: Bool, B: t.text == "true"}}, nil
	case "and", "or", "not", "in", "contains", "matches":
		return nil, p.errAt(t, "unexpected %q where a value or field was expected", t.text)
	}
	if LevelRank(t.text) > 0 {
		return literal{Str(t.text)}, nil
	}
	name := t.text
	if p.peek().kind == tDot {
		p.next()
		sub := p.next()
		if sub.kind != tIdent {
			return nil, p.errAt(sub, "expected a field name after %s.", name)
		}
		name += "." + sub.text
	}
	if name == "attr" || name == "resource" {
		if b := p.next(); b.kind != tLBrack {
			return nil, p.errAt(b, `%s needs a key: %s["key"]`, name, name)
		}
		k := p.next()
		if k.kind != tString {
			return nil, p.errAt(k, `%s keys are strings: %s["key"]`, name, name)
		}
		if b := p.next(); b.kind != tRBrack {
			return nil, p.errAt(b, "expected ] after the key")
		}
		return field{name: name, key: k.text}, nil
	}
	if !Fields[name] {
		return nil, p.errAt(t, "unknown field %q", name)
	}
	return field{name: name}, nil
}
