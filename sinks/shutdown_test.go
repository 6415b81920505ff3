package sinks

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logweave/logweave/router"
	"github.com/logweave/logweave/testkit/testkafka"
)

// A graceful stop while another member of the group is dead (killed, so
// it never left) must neither wait for the rebalance that member holds up
// nor lose the final commit: the stop commits what was delivered, leaves
// the group and returns, long before the dead member's session expires.
//
// The dead member joins with a ten-minute session; the live member then
// revokes what the balancer moved to it and rejoins, and that join cannot
// finish before the dead member's session ends. The test waits at most a
// minute for the stop, far below the session, so a stop that waits for the
// rebalance fails it.
func TestRunner_StopWithDeadMemberCommitsAndLeaves(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(partitions, enrichedTopic, dlqTopic),
		kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.GroupMaxSessionTimeout(time.Hour))
	rt, err := router.New(router.Default())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cluster: c, adm: c.Admin(), rt: rt}
	e.produce("a", 40, time.Time{})
	cfg := testConfig("t")
	// Only the final commits (revoke, stop) commit: the test checks that
	// the one at stop lands.
	cfg.CommitInterval = time.Hour
	sink := newFakeSink()
	m := e.start(cfg, sink, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitGroupStable(ctx, cfg.Group(), 1); err != nil {
		t.Fatalf("waiting for the live member: %v", err)
	}
	live, _ := m.r.cl.GroupMetadata()

	dead := c.JoinDeadMember(cfg.Group(), []string{enrichedTopic}, 10*time.Minute)
	var owned []int32
	waitFor(t, 30*time.Second, "the live member to give partitions up and rejoin", func() bool {
		g := c.GroupInfo(cfg.Group())
		m.r.mu.Lock()
		defer m.r.mu.Unlock()
		owned = owned[:0]
		for p := range m.r.workers {
			owned = append(owned, p)
		}
		return g != nil && g.State == "PreparingRebalance" && len(owned) > 0 && len(owned) < partitions
	})
	slices.Sort(owned)

	// Records arriving during the stuck rebalance are delivered but,
	// with the long commit interval, committed only by the final commit.
	e.produce("b", 40, time.Time{})
	ends := e.endOffsets()
	waitFor(t, 30*time.Second, "the live member to deliver its partitions", func() bool {
		for _, p := range owned {
			if !sink.deliveredBelow(p, ends[p], nil) {
				return false
			}
		}
		return true
	})

	m.cancel()
	m.cancel = nil
	start := time.Now()
	select {
	case err := <-m.done:
		if err != nil {
			t.Fatalf("runner: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the graceful stop waited for the rebalance the dead member holds up (not done within a minute; its session is ten minutes)")
	}
	t.Logf("stopped in %s with partitions %v; dead member %s", time.Since(start).Round(time.Millisecond), owned, dead)

	committed := e.committed(cfg.Group())
	for _, p := range owned {
		if committed[p] != ends[p] {
			t.Errorf("partition %d: committed %d after the stop, want %d (everything delivered)", p, committed[p], ends[p])
		}
	}
	g := c.GroupInfo(cfg.Group())
	for _, gm := range g.Members {
		if gm.MemberID == live {
			t.Errorf("the stopped member %s is still in the group: it did not leave", live)
		}
	}
}
