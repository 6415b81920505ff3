package document

import (
	"bytes"
	"math"
	"testing"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// appendTimeFormat is appendTime as it was: time.AppendFormat.
func appendTimeFormat(b []byte, ns uint64) []byte {
	b = append(b, '"')
	b = time.Unix(0, int64(ns)).UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

func TestAppendTime_MatchesAppendFormat(t *testing.T) {
	times := []uint64{0, 1, 999_999_999, 1_000_000_000, 1798761599_000000000, 1798761599_123456789,
		951_782_400_000_000_007,       // 2000-02-29
		9_223_372_036_854_775_807 - 1, // 2262, the last time int64 nanoseconds hold
		math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}
	for ns := uint64(1); ns < math.MaxUint64/3; ns = ns*3 + 7 {
		times = append(times, ns)
	}
	for _, ns := range times {
		if got, want := appendTime(nil, ns), appendTimeFormat(nil, ns); !bytes.Equal(got, want) {
			t.Errorf("%d: %s, AppendFormat writes %s", ns, got, want)
		}
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(uint64(1798761599_123456789))
	f.Fuzz(func(t *testing.T, ns uint64) {
		if got, want := appendTime(nil, ns), appendTimeFormat(nil, ns); !bytes.Equal(got, want) {
			t.Fatalf("%d: %s, AppendFormat writes %s", ns, got, want)
		}
	})
}

func FuzzAppendString_MatchesVocab(f *testing.F) {
	for _, s := range []string{"", "judge", `a"b`, `back\slash`, "tab\t", "é", "\u2028", "\xff", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), v1.AppendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: %s, AppendJSONString writes %s", s, got, want)
		}
	})
}
