// Package testkafka starts an in-process Kafka (franz-go kfake) for tests.
// Clients talk to it over real TCP on 127.0.0.1, so the code under test runs
// the same wire protocol it runs against a real cluster.
package testkafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is a running kfake cluster owned by one test.
type Cluster struct {
	*kfake.Cluster
	t testing.TB
}

// Start starts a single-broker cluster closed by t.Cleanup. Extra kfake
// options (SeedTopics, NumBrokers, DataDir, ...) are applied after the
// defaults.
func Start(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, t: t}
}

// Brokers returns the seed addresses.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Client returns a client to the cluster, closed by t.Cleanup.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.t.Fatalf("creating kafka client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client to the cluster, closed by t.Cleanup.
func (c *Cluster) Admin() *kadm.Client {
	c.t.Helper()
	return kadm.NewClient(c.Client())
}

// JoinDeadMember adds a member to group, consuming topics with the
// cooperative-sticky protocol, that joins once and then never speaks again,
// as a process killed with SIGKILL leaves things: it never heartbeats,
// rejoins or leaves, so it stays a member until its session timeout
// (session) expires, and every rebalance until then waits for it. A live
// member must already be in the group (and stays its leader: the dead
// member never assigns). Start the cluster with
// kfake.GroupMaxSessionTimeout at or above session. It returns the dead
// member's id.
func (c *Cluster) JoinDeadMember(group string, topics []string, session time.Duration) string {
	c.t.Helper()
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bal := kgo.CooperativeStickyBalancer()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = int32(session.Milliseconds())
	join.RebalanceTimeoutMillis = int32(session.Milliseconds())
	join.ProtocolType = "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = bal.ProtocolName()
	proto.Metadata = bal.JoinGroupMetadata(topics, nil, -1)
	join.Protocols = append(join.Protocols, proto)
	var resp *kmsg.JoinGroupResponse
	for {
		var err error
		resp, err = join.RequestWith(ctx, cl)
		if err != nil {
			c.t.Fatalf("dead member joining %s: %v", group, err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.MemberIDRequired) {
			join.MemberID = resp.MemberID // KIP-394: join again with the id
			continue
		} else if err != nil {
			c.t.Fatalf("dead member joining %s: %v", group, err)
		}
		break
	}
	if resp.LeaderID == resp.MemberID {
		c.t.Fatalf("dead member became the leader of %s: start a live member first", group)
	}
	join.MemberID = resp.MemberID
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = group, resp.MemberID, resp.Generation
	sync.ProtocolType, sync.Protocol = &join.ProtocolType, resp.Protocol
	sresp, err := sync.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(sresp.ErrorCode)
	}
	if errors.Is(err, kerr.RebalanceInProgress) {
		// A cooperative leader revokes and rejoins at once, so the
		// next rebalance can start before this member synced. A
		// killed process would not rejoin either: the group now waits
		// for it, which is the state wanted.
		return resp.MemberID
	}
	if err != nil {
		c.t.Fatalf("dead member syncing %s: %v", group, err)
	}
	return resp.MemberID
}
