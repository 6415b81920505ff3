package ingest

import (
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// fillSubmissionBefore is Keys.fillSubmission before integer
// submission_seq values were read without their text: the reference.
func fillSubmissionBefore(k *Keys, s *v1.Submission, seq *uint32, attrs *[]*v1.KeyValue, res []*v1.KeyValue) *v1.Submission {
	get := func(keys []string) string {
		if s := takeString(attrs, keys); s != "" {
			return s
		}
		for _, key := range keys {
			if v, ok := v1.Attr(res, key); ok {
				return v.Text()
			}
		}
		return ""
	}
	s.SubmitId = get(k.SubmitID)
	s.UserId = get(k.UserID)
	s.ProblemId = get(k.ProblemID)
	s.Lang = get(k.Lang)
	if seqText := get(k.SubmissionSeq); seqText != "" {
		if n, err := strconv.ParseUint(strings.TrimSpace(seqText), 10, 32); err == nil {
			*seq = uint32(n)
			s.SubmissionSeq = seq
		} else {
			*attrs = append(*attrs, &v1.KeyValue{Key: k.SubmissionSeq[0], Value: strValue(seqText)})
		}
	}
	if st := get(k.Stage); st != "" {
		s.Stage = v1.ParseStage(st)
		if s.Stage == v1.Stage_STAGE_UNSPECIFIED {
			*attrs = append(*attrs, &v1.KeyValue{Key: k.Stage[0], Value: strValue(st)})
		}
	}
	return s
}

// randomAttrs draws an attribute list from keys (some twice), nil entries
// and values of every kind: empty strings, numbers as text with spaces,
// integers around 0 and MaxUint32, stages that parse and one that does not.
func randomAttrs(rng *rand.Rand, keys []string) []*v1.KeyValue {
	ints := []int64{0, 1, 7, -1, math.MaxUint32, math.MaxUint32 + 1, math.MinInt64, math.MaxInt64}
	n := rng.Intn(12)
	out := make([]*v1.KeyValue, 0, n)
	for range n {
		if rng.Intn(20) == 0 {
			out = append(out, nil)
			continue
		}
		kv := &v1.KeyValue{Key: keys[rng.Intn(len(keys))]}
		switch rng.Intn(9) {
		case 0:
			kv.Value = strValue("")
		case 1, 2:
			kv.Value = &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: ints[rng.Intn(len(ints))]}}
		case 3:
			kv.Value = strValue(fmt.Sprintf(" %d ", rng.Intn(20)-3))
		case 4:
			kv.Value = strValue([]string{"judge", "compile", "score", "feedback", "warming-up"}[rng.Intn(5)])
		case 5:
			kv.Value = &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: 3}}
		case 6:
			// no value
		default:
			kv.Value = strValue(fmt.Sprintf("v%d", rng.Intn(5)))
		}
		out = append(out, kv)
	}
	return out
}

func sameAttrs(a, b []*v1.KeyValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) || a[i] != nil && !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestKeys_FillSubmissionMatchesBefore: on random attribute lists (the
// record's and the resource's), with the default keys and with other
// keys, fillSubmission reads the same submission and leaves the same
// attributes in the same order as before integer submission_seq values
// were read without their text.
func TestKeys_FillSubmissionMatchesBefore(t *testing.T) {
	def := Default().Keys
	custom := Keys{
		SubmitID: []string{"sid", "submit_id"}, UserID: []string{"user"}, ProblemID: []string{"problem_id"},
		SubmissionSeq: []string{"seq", "submission_seq"}, Lang: []string{"lang"}, Stage: []string{"phase", "stage"},
		LogType: []string{"log_type"},
	}
	rng := rand.New(rand.NewSource(16))
	for name, keys := range map[string]Keys{"default": def, "custom": custom} {
		var pool []string
		for _, l := range [][]string{keys.SubmitID, keys.UserID, keys.ProblemID, keys.SubmissionSeq, keys.SubmissionSeq, keys.Lang, keys.Stage} {
			pool = append(pool, l...)
		}
		pool = append(pool, "step", "test")
		t.Run(name, func(t *testing.T) {
			for i := range 20000 {
				attrs := randomAttrs(rng, pool)
				var res []*v1.KeyValue
				if rng.Intn(2) == 0 {
					res = randomAttrs(rng, pool)
				}
				// Lists with no room to grow, as the decoder's slab hands
				// them out: an append copies.
				before := append([]*v1.KeyValue(nil), attrs...)
				before = before[:len(before):len(before)]
				var beforeSeq uint32
				want := fillSubmissionBefore(&keys, &v1.Submission{}, &beforeSeq, &before, res)

				now := append([]*v1.KeyValue(nil), attrs...)
				now = now[:len(now):len(now)]
				var nowSeq uint32
				got := keys.fillSubmission(&v1.Submission{}, &nowSeq, &now, res)

				if !proto.Equal(got, want) || nowSeq != beforeSeq {
					t.Fatalf("case %d: attrs %v res %v:\nsubmission %v (seq %d), want %v (seq %d)", i, attrs, res, got, nowSeq, want, beforeSeq)
				}
				if !sameAttrs(now, before) {
					t.Fatalf("case %d: attrs %v res %v:\nleft %v, want %v", i, attrs, res, now, before)
				}
			}
		})
	}
}

// TestKeys_FillSubmissionSeqEdgeValuesMatchBefore: every kind of
// submission_seq value (integers at and past the uint32 bounds, numbers
// as text with leading zeros, signs, spaces, exponents and overflow,
// floats, NaN, infinities, bools, bytes, arrays, maps, no value), in the
// record's attributes, in the resource's or in both, gives the same
// submission, encoded byte for byte, and the same attributes as the text
// path before integers were read directly.
func TestKeys_FillSubmissionSeqEdgeValuesMatchBefore(t *testing.T) {
	ival := func(n int64) *v1.AnyValue { return &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: n}} }
	dval := func(f float64) *v1.AnyValue { return &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: f}} }
	values := map[string]*v1.AnyValue{"none": nil, "empty": {}}
	for _, n := range []int64{0, 1, 42, -1, -42, math.MaxUint32, math.MaxUint32 - 1, math.MaxUint32 + 1, math.MaxInt32, math.MinInt32, math.MinInt64, math.MaxInt64} {
		values[fmt.Sprintf("int %d", n)] = ival(n)
	}
	for _, s := range []string{"", " ", "0", "007", "+5", "-0", "-5", " 5 ", "\t9\n", "5.0", "1e3", "0x10", "4294967295", "4294967296",
		"99999999999999999999", "18446744073709551616", "١٢", "5abc", "abc"} {
		values[fmt.Sprintf("string %q", s)] = strValue(s)
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 5, 0.5, -1, 1e10, math.MaxUint32, math.MaxUint32 + 1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		values[fmt.Sprintf("double %v", f)] = dval(f)
	}
	values["bool"] = &v1.AnyValue{Value: &v1.AnyValue_BoolValue{BoolValue: true}}
	values["bytes"] = &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte{7}}}
	values["array"] = &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{Values: []*v1.AnyValue{ival(3)}}}}
	values["kvlist"] = &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: &v1.KeyValueList{Values: []*v1.KeyValue{{Key: "a", Value: ival(3)}}}}}

	keys := Default().Keys
	for name, v := range values {
		for _, where := range []string{"record", "resource", "record, resource 9", "both"} {
			var attrs, res []*v1.KeyValue
			switch where {
			case "record":
				attrs = []*v1.KeyValue{{Key: "submission_seq", Value: v}}
			case "resource":
				res = []*v1.KeyValue{{Key: "submission_seq", Value: v}}
			case "record, resource 9":
				attrs = []*v1.KeyValue{{Key: "submission_seq", Value: v}}
				res = []*v1.KeyValue{{Key: "submission_seq", Value: ival(9)}}
			case "both":
				attrs = []*v1.KeyValue{{Key: "submission.seq", Value: v}, {Key: "submission_seq", Value: ival(3)}}
				res = []*v1.KeyValue{{Key: "submission_seq", Value: v}}
			}
			before := append([]*v1.KeyValue(nil), attrs...)
			var beforeSeq uint32
			want := fillSubmissionBefore(&keys, &v1.Submission{}, &beforeSeq, &before, res)
			now := append([]*v1.KeyValue(nil), attrs...)
			var nowSeq uint32
			got := keys.fillSubmission(&v1.Submission{}, &nowSeq, &now, res)

			gotB, err := proto.MarshalOptions{Deterministic: true}.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			wantB, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if string(gotB) != string(wantB) || nowSeq != beforeSeq {
				t.Errorf("%s in %s: submission %v (seq %d), want %v (seq %d)", name, where, got, nowSeq, want, beforeSeq)
			}
			if !sameAttrs(now, before) {
				t.Errorf("%s in %s: attributes left %v, want %v", name, where, now, before)
			}
		}
	}
}
