package expr

import (
	"strings"
	"testing"
	"time"
)

type mapEnv map[string]Value

func (m mapEnv) Field(name, key string) (Value, bool) {
	if key != "" {
		name += "[" + key + "]"
	}
	v, ok := m[name]
	return v, ok
}

func TestEval(t *testing.T) {
	judgeSlow := mapEnv{"kind": Str("span"), "stage": Str("judge"), "span.duration": Dur(int64(12 * time.Second)), "span.status": Str("ok"), "level": Lvl(3)}
	errLog := mapEnv{"kind": Str("log"), "level": Lvl(5), "body": Str("runtime error: OOMKilled"), "attr[http.status_code]": Num(502)}
	infoLog := mapEnv{"kind": Str("log"), "level": Lvl(3), "body": Str("ok"), "attr[http.status_code]": Num(200), "service": Str("judge")}
	tests := []struct {
		src  string
		env  mapEnv
		want bool
	}{
		{`level >= error`, errLog, true},
		{`level >= error`, infoLog, false},
		{`level == warn or level == info`, infoLog, true},
		{`span.status == "error"`, judgeSlow, false},
		{`stage == "judge" and span.duration > 10s`, judgeSlow, true},
		{`stage == "judge" and span.duration > 15s`, judgeSlow, false},
		{`attr["http.status_code"] in [500, 502, 504]`, errLog, true},
		{`attr["http.status_code"] in [500, 502, 504]`, infoLog, false},
		{`body contains "OOMKilled"`, errLog, true},
		{`body matches "^runtime (error|panic)"`, errLog, true},
		{`not (level >= error)`, infoLog, true},
		// Precedence: and binds tighter than or; not tighter than and.
		{`kind == "span" or kind == "log" and level >= error`, infoLog, false},
		{`(kind == "span" or kind == "log") and level >= error`, errLog, true},
		{`not kind == "span" and level >= info`, infoLog, true},
		// Missing fields equal nothing and order with nothing.
		{`span.duration > 1s`, infoLog, false},
		{`span.duration < 1s`, infoLog, false},
		{`stage != "judge"`, infoLog, true},
		{`attr["missing"] == "x"`, infoLog, false},
		// A plain number never compares with a duration.
		{`span.duration > 10`, judgeSlow, false},
		{`service == "judge" and true`, infoLog, true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got := e.Eval(tt.env); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestParse_ErrorsPointAtColumn(t *testing.T) {
	tests := []struct {
		src string
		col int
		msg string
	}{
		{`level >= error or`, 18, "unexpected end of expression"},
		{`level = error`, 7, `unexpected '=' (did you mean "=="?)`},
		{`lvl >= error`, 1, `unknown field "lvl"`},
		{`stage == "judge`, 10, "unterminated string"},
		{`(level >= error`, 16, "expected ) to close the ( at column 1"},
		{`span.duration > 10parsecs`, 17, `bad duration "10parsecs"`},
		{`attr[1] == 2`, 6, `attr keys are strings`},
		{`level >= error level`, 16, "unexpected \"level\" after a complete expression"},
		{`stage`, 1, `"stage" is a field, not a condition`},
		{`code in 500`, 1, `unknown field "code"`},
		{`service in "judge"`, 12, "in needs a list"},
		{`body matches "("`, 14, "bad pattern"},
		{`service == "a" # x`, 16, `unexpected character '#'`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		pe, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: err = %v, want a parse error", tt.src, err)
			continue
		}
		if pe.Col != tt.col || !strings.Contains(pe.Msg, tt.msg) {
			t.Errorf("%s: column %d %q, want column %d %q", tt.src, pe.Col, pe.Msg, tt.col, tt.msg)
		}
		if !strings.Contains(pe.Error(), "\n  "+tt.src+"\n") {
			t.Errorf("%s: error does not show the source: %s", tt.src, pe.Error())
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e, _ := Parse(`level >= error or span.status == "error" or (stage == "judge" and span.duration > 10s) or attr["http.status_code"] in [500, 502, 504]`)
	env := mapEnv{"kind": Str("log"), "level": Lvl(3), "stage": Str("judge"), "attr[http.status_code]": Num(200)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Eval(env)
	}
}

func TestExpr_Fields(t *testing.T) {
	e, err := Parse(`kind == "span" and (span.duration > 10s or attr["a"] == 1 or attr["b"] == 2) and not level >= error`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.Fields(), ","); got != "kind,span.duration,attr,level" {
		t.Errorf("Fields() = %s", got)
	}
}

func TestExpr_Requires(t *testing.T) {
	for src, want := range map[string]string{
		`kind == "span" and stage == "judge" and span.duration > 10s`: "span",
		`stage == "judge" and (kind == "log")`:                        "log",
		`kind == "span" or level >= error`:                            "",
		`level >= error`:                                              "",
		`not kind == "span"`:                                          "",
	} {
		e, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := e.Requires("kind"); got != want {
			t.Errorf("%s: Requires(kind) = %q, want %q", src, got, want)
		}
	}
}
