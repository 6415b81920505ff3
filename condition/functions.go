package condition

import (
	"cmp"
	"strings"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// env is the type conditions run on: a Record without its methods, so
// that expressions see only the fields the functions below give them.
type env Record

// Go functions the rewriter calls. They are put into the tree as
// constants of the signatures expr-lang calls without reflection or an
// argument slice (vm.FuncTypes), so a field read costs a call.
var (
	fieldFuncs = func() map[*field]any {
		m := make(map[*field]any, len(fields))
		for i := range fields {
			f := &fields[i]
			switch f.typ {
			case typeString:
				get := f.str
				m[f] = func(e any) string { return get((*Record)(e.(*env))) }
			case typeLevel:
				get := f.num
				m[f] = func(e any) int {
					v, _ := get((*Record)(e.(*env)))
					return int(v)
				}
			default:
				get, dur := f.num, f.typ == typeDuration
				m[f] = func(e any) any {
					v, ok := get((*Record)(e.(*env)))
					switch {
					case !ok:
						return nil
					case dur:
						return time.Duration(v)
					}
					return int(v)
				}
			}
		}
		return m
	}()
	// textOps compare a text field with a string without boxing the
	// field's value: field == "literal" and body contains "literal" are
	// most of what rules say.
	textOps = map[string]func(a, b string) bool{
		"==": func(a, b string) bool { return a == b }, "contains": strings.Contains,
		"startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix,
	}
	textOpFuncs = func() map[string]map[*field]any {
		m := map[string]map[*field]any{}
		for op, test := range textOps {
			m[op] = map[*field]any{}
			for i := range fields {
				if f := &fields[i]; f.typ == typeString {
					get := f.str
					m[op][f] = func(e, s any) bool { return test(get((*Record)(e.(*env))), s.(string)) }
				}
			}
		}
		return m
	}()
	attrFunc = func(e, key any) any {
		return attrValue(e.(*env).env.Attributes(), key.(string))
	}
	resourceFunc = func(e, key any) any {
		return attrValue(e.(*env).env.Resource().GetAttributes(), key.(string))
	}
	textFunc   = func(v any) string { return text(v) }
	orderFuncs = map[string]func(a, b any) bool{
		"<":  func(a, b any) bool { c, ok := order(a, b); return ok && c < 0 },
		"<=": func(a, b any) bool { c, ok := order(a, b); return ok && c <= 0 },
		">":  func(a, b any) bool { c, ok := order(a, b); return ok && c > 0 },
		">=": func(a, b any) bool { c, ok := order(a, b); return ok && c >= 0 },
	}
)

// order compares two values of a kind that orders: durations with
// durations, numbers with numbers, strings with strings. Anything else,
// a missing value included, does not compare.
func order(a, b any) (int, bool) {
	switch x := a.(type) {
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return cmp.Compare(x, y), true
		}
	case string:
		if y, ok := b.(string); ok {
			return cmp.Compare(x, y), true
		}
	case int, float64:
		fx, _ := number(x)
		if fy, ok := number(b); ok {
			return cmp.Compare(fx, fy), true
		}
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// text renders a value for the text operators: strings as they are,
// others as the vocabulary writes them, missing as "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return (&v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: int64(x)}}).Text()
	case float64:
		return (&v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: x}}).Text()
	case bool:
		return (&v1.AnyValue{Value: &v1.AnyValue_BoolValue{BoolValue: x}}).Text()
	case time.Duration:
		return x.String()
	}
	return ""
}
