package condition

import "testing"

// FuzzCompile checks that the condition language never panics on any
// source (the prepass, expr-lang's parser and the rewriter), and that a
// condition it accepts evaluates without panicking on records with and
// without the fields it reads.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`level >= error`, `span.status == "error" or span.duration > 10s`, `not (service == "judge" and attr["k"] != "")`,
		`body contains "panic"`, `((((`, `attr[`, `"unterminated`, `1e999 > 2`, `level == 5`, `span.duration > 1h30m5µs`,
		`not not kind == "span"`, `attr["a"] > resource["b"]`, `submission_seq / 0 > 1`, "kind == `x`", `0x1f > 1s`,
	} {
		f.Add(s)
	}
	judgeSlow, errLog, infoLog := testRecords()
	recs := []Record{{}, judgeSlow, errLog, infoLog}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Compile(src)
		if err != nil {
			if c != nil {
				t.Fatalf("Compile(%q) returned a condition and an error", src)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q): %T is not a *Error", src, err)
			}
			_ = err.Error()
			return
		}
		for i := range recs {
			c.Eval(&recs[i])
		}
	})
}
