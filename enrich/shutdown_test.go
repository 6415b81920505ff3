package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/testkafka"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A graceful stop while another member of the group is dead (killed, so it
// never left) must neither wait for the rebalance that member holds up nor
// skip the final transaction: the enricher writes and commits what it
// decided, leaves the group and returns, long before the dead member's
// session expires.
//
// The dead member joins with a ten-minute session; the enricher revokes
// what the balancer moved to it and rejoins, a join that cannot finish
// before the dead member's session ends. Flushes run only at the stop (a
// one-hour flush interval, a hand-moved clock), so what the test finds
// committed was committed by the final transaction. The test waits at most
// a minute for the stop, far below the session.
func TestEnricher_StopWithDeadMemberFlushesAndLeaves(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(nParts, rawTopic, enrichedTopic, dlqTopic),
		kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.GroupMaxSessionTimeout(time.Hour))
	v := &env{t: t, cluster: c, adm: c.Admin()}
	cfg := testEnrichConfig()
	cfg.FlushInterval = time.Hour
	cfg.TransactionalID = "test-enrich-dead-member"
	clock := &testClock{now: time.Now()}
	rules, err := CompileRules(DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers()...), kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(3 * time.Second)}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := New(cfg, testTopicNames, rules, base, Deps{Logger: logger, Registerer: prometheus.NewRegistry(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, err := c.WaitGroupStable(wctx, Group, 1); err != nil {
		t.Fatalf("waiting for the enricher to join: %v", err)
	}
	live, _ := e.cl.GroupMetadata()
	c.JoinDeadMember(Group, []string{rawTopic}, 10*time.Minute)
	owned := func() []int32 {
		e.mu.Lock()
		defer e.mu.Unlock()
		var ps []int32
		for p := range e.states {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		return ps
	}
	var ps []int32
	waitFor(t, 30*time.Second, "the enricher to give partitions up and rejoin", func() bool {
		g := c.GroupInfo(Group)
		ps = owned()
		return g != nil && g.State == "PreparingRebalance" && len(ps) > 0 && len(ps) < nParts
	})

	// Complete submissions (an error log and the root span) on the
	// partitions the enricher still owns, read during the stuck rebalance.
	cl := c.Client()
	ends := map[int32]int64{}
	for i, p := range ps {
		k := keyForOther(p, i)
		v.produceRaw(cl, k, logEnv(fmt.Sprintf("l%d", p), k, v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
		ends[p] = v.produceRaw(cl, k, rootSpan(fmt.Sprintf("s%d", p), k)) + 1
	}
	waitFor(t, 30*time.Second, "the enricher to read them", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for p, end := range ends {
			if st := e.states[p]; st == nil || st.head < end {
				return false
			}
		}
		return true
	})
	clock.Add(time.Minute) // past the completion grace
	// Decided at the stop once the end probe saw the partitions read to
	// their end at the moved clock (clock.go): wait for the probe.
	moved := clock.Now()
	waitFor(t, 30*time.Second, "the end probe to run at the moved clock", func() bool {
		e.endsMu.Lock()
		defer e.endsMu.Unlock()
		return !e.ends.at.Before(moved)
	})

	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("enricher: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the graceful stop waited for the rebalance the dead member holds up (not done within a minute; its session is ten minutes)")
	}
	t.Logf("stopped in %s with partitions %v", time.Since(start).Round(time.Millisecond), ps)

	got := v.readEnriched(2*len(ps), 15*time.Second)
	if len(got) != 2*len(ps) {
		t.Errorf("%d enriched records after the stop, want %d: the final transaction did not land", len(got), 2*len(ps))
	}
	offs, err := v.adm.FetchOffsets(context.Background(), Group)
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range ends {
		if o, ok := offs.Lookup(rawTopic, p); !ok || o.At != end {
			t.Errorf("partition %d: committed %d after the stop, want %d", p, o.At, end)
		}
	}
	for _, gm := range c.GroupInfo(Group).Members {
		if gm.MemberID == live {
			t.Errorf("the stopped enricher %s is still in the group: it did not leave", live)
		}
	}
}
