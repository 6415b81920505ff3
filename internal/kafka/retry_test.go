package kafka_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/logweave/logweave/internal/admin"
	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/testkit/testkafka"
)

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestRetriable_Classifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Errors as the client returns them: a broker not listening, a
	// broker refusing the credentials.
	_, dialErr := kadm.NewClient(newClient(t, kgo.SeedBrokers(freeAddr(t)))).ListTopics(ctx, "x")
	c := saslCluster(t)
	_, authErr := kadm.NewClient(newClient(t, kgo.SeedBrokers(c.Brokers()...),
		kgo.SASL(plain.Auth{User: "admin", Pass: "wrong"}.AsMechanism()))).ListTopics(ctx, "x")

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", dialErr, true},
		{"unknown topic after a concurrent create", fmt.Errorf("describing topic: %w", kerr.UnknownTopicOrPartition), true},
		{"coordinator loading", &kadm.ShardErrors{Errs: []kadm.ShardError{{Err: kerr.CoordinatorLoadInProgress}}}, true},
		{"replication factor above the brokers up so far", kerr.InvalidReplicationFactor, true},
		{"one attempt's deadline", fmt.Errorf("listing topics: %w", context.DeadlineExceeded), true},
		{"wrong password", authErr, false},
		{"not authorized", &kadm.AuthError{Err: kerr.TopicAuthorizationFailed}, false},
		{"partition count mismatch", fmt.Errorf("bootstrapping: %w", &kafka.PartitionMismatchError{Topic: "t", Have: 3, Want: 4}), false},
		{"untrusted certificate", fmt.Errorf("unable to dial: %w", x509.UnknownAuthorityError{}), false},
		{"canceled", context.Canceled, false},
		{"client closed", kgo.ErrClientClosed, false},
		{"unknown", errors.New("something else"), false},
	} {
		if tc.err == nil {
			t.Fatalf("%s: no error to classify", tc.name)
		}
		if got := kafka.Retriable(tc.err); got != tc.want {
			t.Errorf("%s (%v): Retriable = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// A role started before its broker waits for it: the step is retried,
// not ready meanwhile with the last error, and succeeds once the broker
// listens.
func TestStartup_RetriesUntilBrokerListens(t *testing.T) {
	addr := freeAddr(t)
	cl := newClient(t, kgo.SeedBrokers(addr))
	pending := admin.NewPending("bootstrapping topics")
	st := kafka.Startup{Backoff: kafka.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}, Pending: pending}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- st.Do(ctx, "bootstrapping topics", func(ctx context.Context) error {
			_, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), -1, kafka.Default().Topics.Specs())
			return err
		})
	}()
	waitUntil(t, "a failed attempt to show in the readiness check", func() bool {
		err := pending.Check()
		return err != nil && strings.Contains(err.Error(), "retrying after")
	})
	select {
	case err := <-done:
		t.Fatalf("gave up without a broker: %v", err)
	default:
	}

	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	c := testkafka.Start(t, kfake.Ports(n))
	if err := <-done; err != nil {
		t.Fatalf("after the broker started: %v", err)
	}
	if err := pending.Check(); err != nil {
		t.Errorf("still not ready: %v", err)
	}
	details, err := c.Admin().ListTopics(ctx, kafka.DefaultRawTopic)
	if err != nil || len(details[kafka.DefaultRawTopic].Partitions) != 12 {
		t.Errorf("raw topic after startup: %v %v", details, err)
	}
}

// saslCluster requires SASL PLAIN admin/right and, like Kafka (kfake only
// closes the connection), answers other credentials with
// SASL_AUTHENTICATION_FAILED.
func saslCluster(t *testing.T, opts ...kfake.Opt) *testkafka.Cluster {
	t.Helper()
	c := testkafka.Start(t, append([]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right")}, opts...)...)
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		auth := req.(*kmsg.SASLAuthenticateRequest)
		if parts := bytes.Split(auth.SASLAuthBytes, []byte{0}); len(parts) == 3 && string(parts[2]) == "right" {
			return nil, nil, false
		}
		resp := auth.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("Authentication failed: Invalid username or password")
		return resp, nil, true
	})
	return c
}

// Errors retrying cannot fix end the step at the first attempt.
func TestStartup_GivesUpOnAuthAndMismatch(t *testing.T) {
	c := saslCluster(t, kfake.SeedTopics(3, kafka.DefaultRawTopic))
	for _, tc := range []struct {
		name string
		pass string
		want error
	}{
		{"wrong password", "wrong", kerr.SaslAuthenticationFailed},
		{"raw topic with another partition count", "right", kafka.ErrPartitionMismatch},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl := newClient(t, kgo.SeedBrokers(c.Brokers()...), kgo.SASL(plain.Auth{User: "admin", Pass: tc.pass}.AsMechanism()))
		pending := admin.NewPending("bootstrapping topics")
		attempts := 0
		err := kafka.Startup{Pending: pending}.Do(ctx, "bootstrapping topics", func(ctx context.Context) error {
			attempts++
			_, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), -1, kafka.Default().Topics.Specs())
			return err
		})
		if !errors.Is(err, tc.want) || attempts != 1 {
			t.Errorf("%s: err = %v after %d attempts, want %v after 1", tc.name, err, attempts, tc.want)
		}
		if pending.Check() == nil {
			t.Errorf("%s: ready after giving up", tc.name)
		}
	}
}

func TestBackoff_DoublesToMaxWithJitter(t *testing.T) {
	b := kafka.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for range 20 {
			if got := b.Wait(n); got > want || got < want*4/5 {
				t.Errorf("Wait(%d) = %s, want within [%s, %s]", n, got, want*4/5, want)
			}
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two processes bootstrapping at once: ours loses the create race and the
// topic is not yet in the metadata it reads next (UNKNOWN_TOPIC_OR_PARTITION
// right after a concurrent create). The bootstrap retries and succeeds.
func TestStartup_BootstrapRetriesAfterConcurrentCreate(t *testing.T) {
	c := testkafka.Start(t)
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		// The other process's create is in flight: answer
		// TOPIC_ALREADY_EXISTS without the topic being there yet.
		creq := req.(*kmsg.CreateTopicsRequest)
		resp := creq.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range creq.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, kerr.TopicAlreadyExists.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cl := newClient(t, kgo.SeedBrokers(c.Brokers()...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	st := kafka.Startup{Backoff: kafka.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}}
	err := st.Do(ctx, "bootstrapping topics", func(ctx context.Context) error {
		_, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), -1, kafka.Default().Topics.Specs())
		errs = append(errs, err)
		return err
	})
	if err != nil {
		t.Fatalf("bootstrap: %v (attempts: %v)", err, errs)
	}
	if len(errs) < 2 || !errors.Is(errs[0], kerr.UnknownTopicOrPartition) {
		t.Errorf("attempts: %v; want the first to fail with UNKNOWN_TOPIC_OR_PARTITION", errs)
	}
}
