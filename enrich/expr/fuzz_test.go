package expr

import "testing"

// fuzzEnv answers every field, so evaluation walks every comparison.
type fuzzEnv struct{}

func (fuzzEnv) Field(name, key string) (Value, bool) {
	switch len(name) % 5 {
	case 0:
		return Str(name + key), true
	case 1:
		return Num(float64(len(key))), true
	case 2:
		return Dur(int64(len(name)) * 1e6), true
	case 3:
		return Lvl(len(key) % 7), true
	}
	return Value{}, false
}

// FuzzParse checks that the rule expression language never panics on any
// source, and that an expression it accepts evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`level >= error`, `span.status == "error" or duration > 10s`, `not (service == "judge" and attr["k"] != "")`,
		`body contains "panic"`, `((((`, `attr[`, `"unterminated`, `1e999 > 2`, `level == 5`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			if e != nil {
				t.Fatalf("Parse(%q) returned an expression and an error", src)
			}
			return
		}
		_ = e.String()
		e.Eval(fuzzEnv{})
	})
}
