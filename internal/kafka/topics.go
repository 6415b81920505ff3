package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrPartitionMismatch is matched (with errors.Is) by a
// *PartitionMismatchError.
var ErrPartitionMismatch = errors.New("partition count mismatch")

// PartitionMismatchError says that a topic logweave relies on for keyed
// co-location exists with another partition count than configured. Records
// keyed by submit_id would then hash to other partitions than the ones the
// enricher's state and the enriched topic assume.
type PartitionMismatchError struct {
	Topic string
	Field string // the config field, e.g. "kafka.topics.raw.partitions"
	Have  int32
	Want  int32
}

func (e *PartitionMismatchError) Error() string {
	return fmt.Sprintf("topic %q exists with %d partitions but %s is %d: records keyed by submit_id hash to partition murmur2(key) mod count, "+
		"so both sides must agree; set %s: %d to use the topic as it is, or recreate the topic (its data is lost)",
		e.Topic, e.Have, e.Field, e.Want, e.Field, e.Have)
}

// Is makes errors.Is(err, ErrPartitionMismatch) true.
func (e *PartitionMismatchError) Is(target error) bool { return target == ErrPartitionMismatch }

// TopicState is what EnsureTopics found or did for one topic.
type TopicState struct {
	Topic      string
	Partitions int32 // partitions the topic has now
	Created    bool  // created by this call
	// Mismatch is set when the topic exists with another partition count.
	// For keyed topics (raw, enriched) it is also returned as an error.
	Mismatch *PartitionMismatchError
}

// TopicSpec is one topic EnsureTopics makes sure of.
type TopicSpec struct {
	Topic
	Field string // config path for messages, e.g. "kafka.topics.raw"
	// Keyed topics need their configured partition count exactly.
	Keyed bool
}

// Specs returns the logweave topics described by the configuration.
func (t Topics) Specs() []TopicSpec {
	return []TopicSpec{
		{Topic: t.Raw, Field: "kafka.topics.raw", Keyed: true},
		{Topic: t.Enriched, Field: "kafka.topics.enriched", Keyed: true},
		{Topic: t.DLQ, Field: "kafka.topics.dlq"},
	}
}

// EnsureTopics creates the topics that do not exist and checks the partition
// count of those that do. It is idempotent and safe to run from every process
// of a fleet at once: a topic another process created between our listing and
// our create is treated as existing. It returns the state of every topic, and
// an error joining every *PartitionMismatchError of a keyed topic.
func EnsureTopics(ctx context.Context, adm *kadm.Client, replicationFactor int16, specs []TopicSpec) ([]TopicState, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	var (
		states = make([]TopicState, 0, len(specs))
		errs   []error
	)
	for _, s := range specs {
		st := TopicState{Topic: s.Name}
		d, ok := details[s.Name]
		switch {
		case ok && d.Err == nil:
			st.Partitions = int32(len(d.Partitions))
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			n, created, err := create(ctx, adm, replicationFactor, s)
			if err != nil {
				return states, err
			}
			st.Partitions, st.Created = n, created
		default:
			return states, fmt.Errorf("describing topic %q: %w", s.Name, d.Err)
		}
		if st.Partitions != s.Partitions {
			st.Mismatch = &PartitionMismatchError{Topic: s.Name, Field: s.Field + ".partitions", Have: st.Partitions, Want: s.Partitions}
			if s.Keyed {
				errs = append(errs, st.Mismatch)
			}
		}
		states = append(states, st)
	}
	sort.SliceStable(states, func(i, j int) bool { return states[i].Topic < states[j].Topic })
	return states, errors.Join(errs...)
}

// create creates one topic, or reports the partitions of the topic someone
// else created first.
func create(ctx context.Context, adm *kadm.Client, rf int16, s TopicSpec) (int32, bool, error) {
	var configs map[string]*string
	if len(s.Configs) > 0 {
		configs = make(map[string]*string, len(s.Configs))
		for k, v := range s.Configs {
			configs[k] = &v
		}
	}
	resp, err := adm.CreateTopic(ctx, s.Partitions, rf, configs, s.Name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return s.Partitions, true, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		details, lerr := adm.ListTopics(ctx, s.Name)
		if lerr != nil {
			return 0, false, fmt.Errorf("listing topic %q after a concurrent create: %w", s.Name, lerr)
		}
		d := details[s.Name]
		if d.Err != nil {
			return 0, false, fmt.Errorf("describing topic %q after a concurrent create: %w", s.Name, d.Err)
		}
		return int32(len(d.Partitions)), false, nil
	default:
		msg := resp.ErrMessage
		if msg != "" {
			msg = " (" + msg + ")"
		}
		return 0, false, fmt.Errorf("creating topic %q with %d partitions: %w%s", s.Name, s.Partitions, err, msg)
	}
}
