package gen

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Stages in order, with the service that runs each.
var stages = []struct{ name, service string }{
	{"compile", "compiler"},
	{"judge", "judge"},
	{"score", "scorer"},
	{"feedback", "feedback"},
}

// RootService runs the root span of every submission.
const RootService = "gateway"

// Crash markers the generator plants, as the enricher's crash rule knows
// them.
var crashMarkers = []string{"panic", "OOMKilled", "CrashLoopBackOff"}

var langs = []string{"go", "cpp", "python", "java", "rust"}

// Submission is one planned submission: a trace of spans with their logs.
type Submission struct {
	SubmitID  string
	UserID    string
	ProblemID string
	Seq       int
	Lang      string
	TraceID   [16]byte
	// Spans holds the root first, then the stages in order.
	Spans []Span
	Truth Truth
}

// Span is one planned span.
type Span struct {
	ID       [8]byte
	Parent   [8]byte // zero for the root
	Name     string
	Service  string
	Stage    string // "" for the root
	Start    time.Time
	End      time.Time
	Error    bool
	ErrorMsg string
	Logs     []Log
}

// Log is one planned log line inside a span.
type Log struct {
	Time  time.Time
	Level string // debug, info, warn, error
	Body  string
	// Event marks a Kubernetes event (log_type=event) with Reason.
	Event  bool
	Reason string
}

// Truth is what went wrong with a submission, as planned.
type Truth struct {
	Error      bool   `json:"error"`
	ErrorStage string `json:"error_stage,omitempty"`
	Timeout    bool   `json:"timeout"`
	Slow       bool   `json:"slow"`
	Crash      string `json:"crash,omitempty"` // the planted marker
}

// Rates are the shares of submissions with each problem, each 0 to 1.
type Rates struct {
	Error   float64
	Timeout float64
	Slow    float64
	Crash   float64
}

// Planner plans submissions deterministically from a seed.
type Planner struct {
	rng   *rand.Rand
	users int
	seqs  map[int]int
	n     int
	seed  uint64
	rates Rates
	// JudgeThreshold is the latency above which a judge span counts as a
	// timeout; timeouts are planned well over it, slow runs under it.
	JudgeThreshold time.Duration
}

// NewPlanner returns a planner for users distinct users.
func NewPlanner(seed uint64, users int, rates Rates) *Planner {
	return &Planner{
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), users: max(users, 1),
		seqs: make(map[int]int), seed: seed, rates: rates, JudgeThreshold: 10 * time.Second,
	}
}

// Next plans the next submission, ending at end.
func (p *Planner) Next(end time.Time) Submission {
	r := p.rng
	p.n++
	user := r.IntN(p.users)
	p.seqs[user]++
	s := Submission{
		SubmitID:  fmt.Sprintf("S%x-%06d", p.seed&0xffff, p.n),
		UserID:    fmt.Sprintf("U%06d", user),
		ProblemID: fmt.Sprintf("P%04d", r.IntN(500)),
		Seq:       p.seqs[user],
		Lang:      langs[r.IntN(len(langs))],
	}
	fill(r, s.TraceID[:])
	t := s.Truth
	t.Error = r.Float64() < p.rates.Error
	t.Timeout = r.Float64() < p.rates.Timeout
	t.Slow = !t.Timeout && r.Float64() < p.rates.Slow
	if r.Float64() < p.rates.Crash {
		t.Crash = crashMarkers[r.IntN(len(crashMarkers))]
	}
	errStage := -1
	if t.Error {
		errStage = r.IntN(len(stages))
		t.ErrorStage = stages[errStage].name
	}
	crashStage := 1 // crashes happen while judging
	s.Truth = t

	// Durations first, then lay the spans out backwards from end.
	durs := make([]time.Duration, len(stages))
	for i := range stages {
		durs[i] = time.Duration(50+r.IntN(950)) * time.Millisecond
	}
	switch {
	case t.Timeout:
		durs[1] = p.JudgeThreshold + time.Duration(2+r.IntN(10))*time.Second
	case t.Slow:
		durs[1] = p.JudgeThreshold/2 + time.Duration(r.Int64N(int64(p.JudgeThreshold/3)))
	}
	gap := 5 * time.Millisecond
	var total time.Duration
	for _, d := range durs {
		total += d + gap
	}
	start := end.Add(-total - gap)
	root := Span{Name: "submission", Service: RootService, Start: start, End: end}
	fill(r, root.ID[:])
	cursor := start.Add(gap)
	for i, st := range stages {
		sp := Span{Parent: root.ID, Name: st.name, Service: st.service, Stage: st.name, Start: cursor, End: cursor.Add(durs[i])}
		fill(r, sp.ID[:])
		cursor = sp.End.Add(gap)
		sp.Logs = planLogs(r, sp, i == errStage, t.Timeout && i == 1, t.Crash, i == crashStage)
		if i == errStage {
			sp.Error, sp.ErrorMsg = true, errorMessages[st.name]
		}
		if t.Timeout && i == 1 {
			sp.Error, sp.ErrorMsg = false, ""
		}
		s.Spans = append(s.Spans, sp)
	}
	root.Error = t.Error
	if t.Error {
		root.ErrorMsg = "submission failed in " + t.ErrorStage
	}
	s.Spans = append([]Span{root}, s.Spans...)
	return s
}

var errorMessages = map[string]string{
	"compile":  "compilation error",
	"judge":    "runtime error",
	"score":    "scoring backend error",
	"feedback": "feedback delivery failed",
}

func planLogs(r *rand.Rand, sp Span, failing, timeout bool, crash string, crashHere bool) []Log {
	n := 2 + r.IntN(9)
	logs := make([]Log, 0, n+2)
	step := sp.End.Sub(sp.Start) / time.Duration(n+3)
	at := func(i int) time.Time { return sp.Start.Add(step * time.Duration(i+1)) }
	for i := 0; i < n; i++ {
		lvl := "info"
		switch x := r.Float64(); {
		case x < 0.2:
			lvl = "debug"
		case x < 0.35:
			lvl = "warn"
		}
		logs = append(logs, Log{Time: at(i), Level: lvl, Body: fmt.Sprintf("%s step %d: %s", sp.Stage, i+1, bodies[r.IntN(len(bodies))])})
	}
	if timeout {
		logs = append(logs, Log{Time: at(n), Level: "warn", Body: "time limit exceeded: test still running after the limit"})
	}
	if failing {
		logs = append(logs, Log{Time: at(n), Level: "error", Body: errorMessages[sp.Stage] + ": exit status 1"})
	}
	if crash != "" && crashHere {
		switch crash {
		case "panic":
			logs = append(logs, Log{Time: at(n + 1), Level: "info", Body: "sandbox output: panic: runtime error: index out of range [5] with length 5"})
		default:
			logs = append(logs, Log{Time: at(n + 1), Level: "warn", Body: "container runner in pod judge-sandbox changed state", Event: true, Reason: crash})
		}
	}
	return logs
}

var bodies = []string{
	"fetched test data", "started sandbox", "test passed", "memory usage sampled",
	"cache hit for toolchain", "wrote artifact", "checker finished", "queued result",
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if b[0] == 0 {
		b[0] = 1 // never an all-zero (invalid) id
	}
}
