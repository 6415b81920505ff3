package reconcile

import (
	"encoding/hex"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/sinks"
)

// SubmissionKey identifies a submission: its submit_id, or "trace:<hex>"
// for records that carry only a trace id.
type SubmissionKey string

// keyOf returns the submission of an enriched record and the field and
// value a destination is searched by.
func keyOf(r *v1.EnrichedRecord) (key SubmissionKey, field, value string) {
	sub := r.GetSubmission()
	if sub == nil {
		sub = r.GetRecord().Submission()
	}
	if id := sub.GetSubmitId(); id != "" {
		return SubmissionKey(id), "submit_id", id
	}
	if tid := r.GetRecord().TraceID(); len(tid) > 0 {
		h := hex.EncodeToString(tid)
		return SubmissionKey("trace:" + h), "trace_id", h
	}
	return "", "", ""
}

// submission is what the enriched topic says about one submission, per
// sink.
type submission struct {
	key          SubmissionKey
	field, value string // what destinations are searched by
	inWindow     bool   // at least one record inside [from, to)
	minTime      int64  // event times, unix ns
	maxTime      int64
	// perSink: sink name -> record_id -> the record as the sink gets it.
	perSink map[string]map[string]*sinks.Record
	// pending: sink name -> record_ids the sink's group has not committed.
	pending map[string]map[string]bool
}

// expectations collects the window's submissions.
type expectations struct {
	subs     map[SubmissionKey]*submission
	order    []SubmissionKey
	undecode int // records that did not decode
	unkeyed  int // records with neither submit_id nor trace id
}

func newExpectations() *expectations {
	return &expectations{subs: map[SubmissionKey]*submission{}}
}

// add routes one enriched record to every checked sink.
func (e *expectations) add(kr *kgo.Record, inWindow bool, targets []*target) {
	rec := &v1.EnrichedRecord{}
	if err := proto.Unmarshal(kr.Value, rec); err != nil {
		e.undecode++
		return
	}
	key, field, value := keyOf(rec)
	if key == "" {
		e.unkeyed++
		return
	}
	s := e.subs[key]
	if s == nil {
		s = &submission{key: key, field: field, value: value, perSink: map[string]map[string]*sinks.Record{}, pending: map[string]map[string]bool{}}
		e.subs[key] = s
		e.order = append(e.order, key)
	}
	s.inWindow = s.inWindow || inWindow
	ts := int64(rec.GetRecord().EventTimeUnixNano())
	if s.minTime == 0 || ts < s.minTime {
		s.minTime = ts
	}
	s.maxTime = max(s.maxTime, ts)
	for _, t := range targets {
		dest, ok := t.router.Route(t.name, rec)
		if !ok {
			continue
		}
		m := s.perSink[t.name]
		if m == nil {
			m = map[string]*sinks.Record{}
			s.perSink[t.name] = m
		}
		id := rec.GetRecordId()
		if _, dup := m[id]; dup {
			continue // the same record twice in the topic: one document
		}
		m[id] = &sinks.Record{Enriched: rec, Dest: dest, Value: kr.Value, Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset}
		if c, ok := t.committed[kr.Partition]; !ok || kr.Offset >= c {
			if s.pending[t.name] == nil {
				s.pending[t.name] = map[string]bool{}
			}
			s.pending[t.name][id] = true
		}
	}
}
