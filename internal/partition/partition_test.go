package partition

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFor_MatchesFranzGo checks our partition choice against franz-go's
// StickyKeyPartitioner, which matches the Java client.
func TestFor_MatchesFranzGo(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, key := range []string{"S1", "S1001", "0af7651916cd43dd8448eb211c80319c", "a", "ab", "abc", "abcd", "U928374-7"} {
		for _, n := range []int{1, 3, 12, 64} {
			want := p.Partition(&kgo.Record{Key: []byte(key)}, n)
			if got := For([]byte(key), int32(n)); int(got) != want {
				t.Errorf("For(%q, %d) = %d, franz-go says %d", key, n, got, want)
			}
		}
	}
}
