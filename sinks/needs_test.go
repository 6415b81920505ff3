package sinks

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/router"
)

// destSink records the destinations it was given.
type destSink struct {
	need  *router.Need // nil: no DestinationNeeds
	dests []router.Destination
}

func (s *destSink) Write(_ context.Context, batch []*Record) ([]Result, error) {
	for _, r := range batch {
		s.dests = append(s.dests, r.Dest)
	}
	return make([]Result, len(batch)), nil
}

func (s *destSink) Close() error { return nil }

type needingSink struct{ *destSink }

func (s needingSink) DestinationNeeds() router.Need { return *s.need }

func TestRunner_RoutesWithTheSinksNeeds(t *testing.T) {
	rt, err := router.New(router.Default())
	if err != nil {
		t.Fatal(err)
	}
	v, err := proto.Marshal(enriched("r1"))
	if err != nil {
		t.Fatal(err)
	}
	batch := []*kgo.Record{{Topic: enrichedTopic, Value: v}}
	indexOnly, nothing := router.NeedIndex, router.Need(0)
	for _, tc := range []struct {
		name      string
		sink      *destSink
		wantIndex bool
		wantMeta  bool
	}{
		{"no DestinationNeeds: every part", &destSink{}, true, true},
		{"index only", &destSink{need: &indexOnly}, true, false},
		{"nothing", &destSink{need: &nothing}, false, false},
	} {
		var sink Sink = tc.sink
		if tc.sink.need != nil {
			sink = needingSink{tc.sink}
		}
		r := &Runner{cfg: DefaultConfig("loki"), sink: sink, router: rt, topics: testTopics, m: newMetrics(prometheus.NewRegistry(), "loki")}
		if !newWorker(r, 0).process(batch) {
			t.Fatalf("%s: batch not processed", tc.name)
		}
		if len(tc.sink.dests) != 1 {
			t.Fatalf("%s: %d destinations, want 1", tc.name, len(tc.sink.dests))
		}
		d := tc.sink.dests[0]
		if (d.Index != "") != tc.wantIndex || (len(d.Metadata) > 0) != tc.wantMeta || d.Route != "default" {
			t.Errorf("%s: destination %+v, want index %v, metadata %v", tc.name, d, tc.wantIndex, tc.wantMeta)
		}
	}
}
