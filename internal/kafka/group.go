package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Why a group member needs more than franz-go's CommitOffsetsSync and Close
// to stop quickly (franz-go v1.22.2): while a JoinGroup is in flight, a
// commit waits for the join and sync to finish, and Close (LeaveGroup)
// waits for the group management loop, which waits for the JoinGroup
// response. A JoinGroup is answered only when every member has rejoined
// or its session expired; with a member that was SIGKILLed, that is its
// whole session timeout (the join is issued with the client's context, so
// leaving does not cut it short). Stopping then takes the session timeout,
// and commits bounded by a shorter deadline fail. CommitOffsets and Leaver
// below never wait for the rebalance; the coordinator still fences every
// request by member id and generation.

// Committer commits a group member's offsets with OffsetCommit requests
// of its own, stamped with the member id and generation the client holds
// now, instead of CommitOffsetsSync. The coordinator accepts them while a
// rebalance is only preparing (the partitions are still this member's in
// its generation) and refuses them once this member is out of the
// generation (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID), so a commit never
// lands for a partition the member no longer owns. It is safe for
// concurrent use; callers order their own commits per partition.
type Committer struct {
	cl    *kgo.Client
	group string

	mu  sync.Mutex
	ids map[string][16]byte // topic ids, for OffsetCommit v10+
}

// NewCommitter returns a Committer for cl, a member of group.
func NewCommitter(cl *kgo.Client, group string) *Committer {
	return &Committer{cl: cl, group: group, ids: map[string][16]byte{}}
}

// commitRetryBackoff paces retries while the group is completing a
// rebalance (the coordinator answers REBALANCE_IN_PROGRESS until the
// leader's SyncGroup; that takes a round trip, not a session).
const commitRetryBackoff = 50 * time.Millisecond

// Commit commits offsets (topic -> partition -> offset) for the group. It
// retries while the coordinator answers REBALANCE_IN_PROGRESS, re-reading
// the generation each time, until ctx is done; any other error, including
// one for a single partition, is returned.
func (c *Committer) Commit(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	if len(offsets) == 0 {
		return nil
	}
	if err := c.loadTopicIDs(ctx, offsets); err != nil {
		return err
	}
	for {
		err := c.commitOnce(ctx, offsets)
		if !errors.Is(err, kerr.RebalanceInProgress) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("committing offsets: %w (last answer: %v)", ctx.Err(), err)
		case <-time.After(commitRetryBackoff):
		}
	}
}

func (c *Committer) commitOnce(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	member, gen := c.cl.GroupMetadata()
	if member == "" {
		return fmt.Errorf("committing offsets: %w (not in group %s)", kerr.UnknownMemberID, c.group)
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = c.group, member, gen
	c.mu.Lock()
	for topic, ps := range offsets {
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic, t.TopicID = topic, c.ids[topic]
		for p, eo := range ps {
			pt := kmsg.NewOffsetCommitRequestTopicPartition()
			pt.Partition, pt.Offset, pt.LeaderEpoch = p, eo.Offset, eo.Epoch
			t.Partitions = append(t.Partitions, pt)
		}
		req.Topics = append(req.Topics, t)
	}
	c.mu.Unlock()
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return fmt.Errorf("committing offsets: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("committing offset of %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// loadTopicIDs learns the ids of topics not seen before: OffsetCommit v10
// names topics by id.
func (c *Committer) loadTopicIDs(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	var missing []string
	c.mu.Lock()
	for topic := range offsets {
		if _, ok := c.ids[topic]; !ok {
			missing = append(missing, topic)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	td, err := kadm.NewClient(c.cl).ListTopics(ctx, missing...)
	if err != nil {
		return fmt.Errorf("looking up topic ids: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, topic := range missing {
		d, ok := td[topic]
		if !ok {
			return fmt.Errorf("looking up the id of topic %s: %w", topic, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			return fmt.Errorf("looking up the id of topic %s: %w", topic, d.Err)
		}
		c.ids[topic] = d.ID
	}
	return nil
}

// Leaver lets a group member leave without waiting for a rebalance in
// progress. Build the member's client with Opt among its options; Leave
// then replaces Close.
type Leaver struct {
	base   []kgo.Opt
	group  string
	ctx    context.Context
	cancel context.CancelFunc
}

// NewLeaver returns a Leaver for a member of group; base are the shared
// connection options (brokers, TLS, SASL), used for the leave request.
func NewLeaver(base []kgo.Opt, group string) *Leaver {
	ctx, cancel := context.WithCancel(context.Background())
	return &Leaver{base: base, group: group, ctx: ctx, cancel: cancel}
}

// Opt gives the member's client a context that Leave cancels.
func (l *Leaver) Opt() kgo.Opt { return kgo.WithContext(l.ctx) }

// Leave ends cl's membership and closes it, in this order: note the member
// id; cancel the client's context, which cuts a JoinGroup or SyncGroup in
// flight short, stops heartbeats and ends the group loop (franz-go calls
// OnPartitionsRevoked once more, with a client that can no longer commit);
// send LeaveGroup for the member id from a short-lived client of its own,
// so that the group rebalances without waiting for this member's session
// to expire; close cl. The leave is sent from another client because the
// member's own client, if still live, would rejoin as a new member the
// moment the coordinator answers its pending JoinGroup with
// UNKNOWN_MEMBER_ID. Commit what must be committed before calling Leave.
// ctx bounds the leave request; the error says why the member could not
// leave (it then stays in the group until its session times out).
func (l *Leaver) Leave(ctx context.Context, cl *kgo.Client) error {
	member, _ := cl.GroupMetadata()
	l.cancel()
	defer cl.Close()
	if member == "" {
		return nil // never joined: nothing to leave
	}
	return leaveGroup(ctx, l.base, l.group, member)
}

func leaveGroup(ctx context.Context, base []kgo.Opt, group, member string) error {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("leaving group %s: creating a client: %w", group, err)
	}
	defer cl.Close()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	req.MemberID = member // versions before 3
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = member
	m.Reason = kmsg.StringPtr("shutting down")
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("leaving group %s: %w", group, err)
	}
	// UNKNOWN_MEMBER_ID: the member is gone already (session expired).
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil && !errors.Is(err, kerr.UnknownMemberID) {
		return fmt.Errorf("leaving group %s: %w", group, err)
	}
	for _, rm := range resp.Members {
		if err := kerr.ErrorForCode(rm.ErrorCode); err != nil && !errors.Is(err, kerr.UnknownMemberID) {
			return fmt.Errorf("leaving group %s as %s: %w", group, rm.MemberID, err)
		}
	}
	return nil
}
