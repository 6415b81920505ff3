package enrich

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/logweave/logweave/condition"
	"github.com/logweave/logweave/internal/yamlstrict"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// RulesConfig is the sampling rules file.
type RulesConfig struct {
	// Tail rules keep a whole submission when any of its records matches;
	// the first matching rule (in order) names the decision.
	Tail []TailRule `yaml:"tail"`
	// Head sampling applies to submissions no tail rule keeps.
	Head HeadConfig `yaml:"head"`
	// Completion marks a submission without spans (logs only, e.g.
	// NDJSON) complete when one of its records matches: it is decided
	// completion_grace later instead of after inactivity_timeout. Empty:
	// never. Default `stage == "feedback"`.
	Completion string `yaml:"completion"`
}

// TailRule is a named condition (see package condition).
type TailRule struct {
	Name string `yaml:"name"`
	When string `yaml:"when"`
}

// HeadConfig are the head sampling rates, each from 0 (drop) to 1 (keep).
type HeadConfig struct {
	// Levels maps a level (trace, debug, info, warn, error, fatal) to its
	// rate. Defaults: fatal 1, error 1, warn 0.5, info 0.1, debug 0,
	// trace 0.
	Levels map[string]float64 `yaml:"levels"`
	// Services overrides the info rate per service; spans of a service
	// use its info rate, so kept info logs come with their spans.
	Services map[string]float64 `yaml:"services"`
	// DebugServices keep debug (and trace) records at DebugRate.
	DebugServices []string `yaml:"debug_services"`
	// DebugRate for DebugServices. Default 1.
	DebugRate float64 `yaml:"debug_rate"`
}

// DefaultRules are the rules used without a rules file.
func DefaultRules() RulesConfig {
	return RulesConfig{
		Tail: []TailRule{
			{Name: "error", When: `level >= error or span.status == "error"`},
			{Name: "crash", When: `body contains "panic" or body contains "OOMKilled" or body contains "CrashLoopBackOff" or attr["k8s.event.reason"] in ["OOMKilled", "CrashLoopBackOff"]`},
			{Name: "slow_judge", When: `kind == "span" and stage == "judge" and span.duration > 10s`},
			{Name: "slow_compile", When: `kind == "span" and stage == "compile" and span.duration > 30s`},
		},
		Head: HeadConfig{
			Levels:    map[string]float64{"fatal": 1, "error": 1, "warn": 0.5, "info": 0.1, "debug": 0, "trace": 0},
			DebugRate: 1,
		},
		Completion: `stage == "feedback"`,
	}
}

// LoadRules reads a rules file; an empty path gives the defaults.
func LoadRules(path string) (*Rules, error) {
	if path == "" {
		return CompileRules(DefaultRules())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	r, err := ParseRules(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRules parses and compiles a rules document. Keys it omits take the
// defaults; a tail: list replaces the default rules.
func ParseRules(b []byte) (*Rules, error) {
	cfg := DefaultRules()
	cfg.Tail = nil
	if err := yamlstrict.Decode(b, &cfg, os.Getenv); err != nil {
		return nil, err
	}
	if cfg.Tail == nil {
		cfg.Tail = DefaultRules().Tail
	}
	return CompileRules(cfg)
}

// Rules are compiled sampling rules. They are immutable; reloading builds
// new Rules.
type Rules struct {
	cfg        RulesConfig
	tail       []compiledRule
	completion *condition.Condition
	// subBound: some tail rule reads the submission context, so a
	// record's result can change as other records complete it.
	subBound bool
	// logSpanBound: some tail rule a log can match reads the span
	// context (evalTail evaluates waiting logs again when their span
	// arrives).
	logSpanBound bool
	// rates by level rank (index 1..6) for services without overrides.
	levels [7]float64
}

type compiledRule struct {
	name string
	e    *condition.Condition
	// spanBound: the rule reads the span context (span.* or stage), so a
	// log's result can change when its span arrives.
	spanBound bool
	// kind is the record kind the rule can match ("" for any): rules like
	// `kind == "span" and ...` are not evaluated on logs.
	kind string
}

// ruleSet selects tail rules by whether they read the span context.
type ruleSet uint8

const (
	allRules  ruleSet = iota
	spanFree          // rules that do not read the span context
	spanBound         // rules that do
)

// readsSpan says whether a field depends on the span a record ran in.
func readsSpan(field string) bool {
	return field == "stage" || field == "parent_span_id" || strings.HasPrefix(field, "span.")
}

// readsSubmission says whether a field depends on the submission context
// merged from the other records.
func readsSubmission(field string) bool {
	switch field {
	case "submit_id", "user_id", "problem_id", "lang", "submission_seq":
		return true
	}
	return false
}

// CompileRules validates and compiles a configuration.
func CompileRules(cfg RulesConfig) (*Rules, error) {
	var errs []error
	r := &Rules{cfg: cfg}
	names := map[string]bool{}
	for i, t := range cfg.Tail {
		at := fmt.Sprintf("tail[%d]", i)
		if t.Name != "" {
			at += " (" + t.Name + ")"
		}
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		case names[t.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q is used by another rule", at, t.Name))
		case strings.HasPrefix(t.Name, "head:") || strings.HasPrefix(t.Name, "early:"):
			errs = append(errs, fmt.Errorf("%s.name: must not start with \"head:\" or \"early:\" (reserved)", at))
		}
		names[t.Name] = true
		e, err := condition.Compile(t.When)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.when: %w", at, err))
			continue
		}
		cr := compiledRule{name: t.Name, e: e}
		cr.kind, _ = e.Requires("kind")
		for _, f := range e.Fields() {
			cr.spanBound = cr.spanBound || readsSpan(f)
			r.subBound = r.subBound || readsSubmission(f)
		}
		r.logSpanBound = r.logSpanBound || cr.spanBound && (cr.kind == "" || cr.kind == v1.KindLog)
		r.tail = append(r.tail, cr)
	}
	if cfg.Completion != "" {
		e, err := condition.Compile(cfg.Completion)
		if err != nil {
			errs = append(errs, fmt.Errorf("completion: %w", err))
		}
		r.completion = e
	}
	for lvl, rate := range cfg.Head.Levels {
		rank := v1.LevelRank(lvl)
		if rank == 0 {
			errs = append(errs, fmt.Errorf("head.levels: %q is not a level (allowed: %s)", lvl, strings.Join(v1.Levels, ", ")))
			continue
		}
		if err := checkRate(rate); err != nil {
			errs = append(errs, fmt.Errorf("head.levels.%s: %w", lvl, err))
		}
		r.levels[rank] = rate
	}
	for svc, rate := range cfg.Head.Services {
		if err := checkRate(rate); err != nil {
			errs = append(errs, fmt.Errorf("head.services.%s: %w", svc, err))
		}
	}
	if err := checkRate(cfg.Head.DebugRate); err != nil {
		errs = append(errs, fmt.Errorf("head.debug_rate: %w", err))
	}
	sort.Strings(r.cfg.Head.DebugServices)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func checkRate(r float64) error {
	if r < 0 || r > 1 || math.IsNaN(r) {
		return fmt.Errorf("%v is not a rate between 0 and 1", r)
	}
	return nil
}

// TailMatch returns the first tail rule the record env matches, read with
// the context of its span (nil when not joined) and submission.
func (r *Rules) TailMatch(env *v1.Envelope, span *v1.SpanContext, sub *v1.Submission) (string, bool) {
	return r.tailMatch(env, span, sub, allRules, "")
}

// tailMatch is TailMatch over the rules of set that a record of kind (when
// not empty) can match.
func (r *Rules) tailMatch(env *v1.Envelope, span *v1.SpanContext, sub *v1.Submission, set ruleSet, kind string) (string, bool) {
	rec := condition.NewRecord(env, span, sub)
	m := condition.AcquireMachine()
	defer condition.ReleaseMachine(m)
	for _, t := range r.tail {
		if set == spanFree && t.spanBound || set == spanBound && !t.spanBound || kind != "" && t.kind != "" && t.kind != kind {
			continue
		}
		if t.e.EvalWith(m, &rec) {
			return t.name, true
		}
	}
	return "", false
}

// Completes says whether a record marks its (span-less) submission
// complete.
func (r *Rules) Completes(env *v1.Envelope, sub *v1.Submission) bool {
	if r.completion == nil {
		return false
	}
	rec := condition.NewRecord(env, nil, sub)
	return r.completion.Eval(&rec)
}

// HeadRate is the keep rate of a record of the given level rank (1 trace
// ... 6 fatal; 0 unknown counts as info) and service.
func (r *Rules) HeadRate(rank int, service string) float64 {
	if rank <= 0 || rank > 6 {
		rank = 3
	}
	switch {
	case rank <= 2:
		if i := sort.SearchStrings(r.cfg.Head.DebugServices, service); i < len(r.cfg.Head.DebugServices) && r.cfg.Head.DebugServices[i] == service {
			return r.cfg.Head.DebugRate
		}
	case rank == 3:
		if rate, ok := r.cfg.Head.Services[service]; ok {
			return rate
		}
	}
	return r.levels[rank]
}

// sampleHash maps a submission key to [0, 1): the same key always gets the
// same number, in every process, so head sampling keeps or drops records of
// a level together, and a record kept at a rate is also kept at any higher
// rate. FNV-1a 64 of the key, finished with murmur3's fmix64 so that
// similar keys (S1, S2, ...) spread evenly.
func sampleHash(key string) float64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return float64(x>>11) / (1 << 53)
}

// SampleFraction is the number in [0, 1) head sampling draws for a
// submission key: a record is kept when it is below the record's rate.
func SampleFraction(key string) float64 { return sampleHash(key) }

// headKeptBy renders a head decision for kept_by.
func headKeptBy(rate float64) string {
	return "head:" + strconv.FormatFloat(rate, 'g', -1, 64)
}
