// Package condition is the one condition language of logweave: the sampling
// rules of enrich (tail rules, the completion expression) and the match of
// a route read records through it. It is github.com/expr-lang/expr over
// the record vocabulary of schemas/logweave/v1, for example:
//
//	level >= error or span.status == "error"
//	kind == "span" and stage == "judge" and span.duration > 10s
//	attr["http.status_code"] in [500, 502, 504]
//	body contains "OOMKilled" or body matches "^panic:"
//
// What logweave adds to expr-lang, at compile time only:
//
//   - Fields (kind, level, span.duration, attr["k"], ...) are read through
//     the vocabulary; a field the record does not have is empty ("" for
//     text fields, nil for span.duration, submission_seq, attr and resource).
//   - Duration literals (10s, 250ms, 1h30m) and level names (trace debug
//     info warn error fatal, ordered; also as strings: level == "warn").
//   - not binds looser than comparisons: not kind == "span" is
//     not (kind == "span"), as the rule syntax always read.
//   - Ordering a missing or differently typed value (span.duration of a log
//     without a span, attr["k"] > 5 on a string) is false, never an error,
//     and contains/matches/startsWith/endsWith read attr and resource
//     values as text; so a rule is never silently skipped because one
//     record lacks a field.
//   - Fields and Requires tell enrich which fields a rule reads and which
//     record kind it can match.
//
// Errors point at the line and column, with a caret under the source.
package condition
