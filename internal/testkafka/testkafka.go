// Package testkafka starts an in-process Kafka (franz-go kfake) for tests.
// Clients talk to it over real TCP on 127.0.0.1, so the code under test runs
// the same wire protocol it runs against a real cluster.
package testkafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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
