package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/admin"
)

// Retriable reports whether retrying can fix err, an error of a Kafka step
// taken at startup. In a fleet processes start in any order, so what a
// broker that is still starting, or a topic another process is creating
// right now, answers is retriable: dial and network errors, connections
// closed at once (a proxy in front of a broker not listening yet), a
// context deadline of one attempt, and Kafka errors franz-go's kerr marks
// retriable (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE,
// COORDINATOR_NOT_AVAILABLE, ...), plus INVALID_REPLICATION_FACTOR (the
// brokers of a starting cluster register one by one). Not retriable:
// authentication and authorization errors, a certificate the client
// rejects, a partition-count mismatch (ErrPartitionMismatch), a closed
// client or a canceled context, and anything not recognised.
func Retriable(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, ErrPartitionMismatch),
		errors.Is(err, kgo.ErrClientClosed),
		errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true // one attempt's deadline; Startup.Do stops on its own context
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Retriable || ke == kerr.InvalidReplicationFactor
	}
	if rejectedCertificate(err) {
		return false
	}
	if _, ok := errors.AsType[*kgo.ErrFirstReadEOF](err); ok {
		// franz-go guesses TLS or SASL trouble and does not retry; a
		// proxy in front of a broker that is not listening yet does
		// the same. The warning logged per retry carries the guess.
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true // refused, unreachable, DNS not (yet) resolvable, timeouts
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return kgo.IsRetryableBrokerErr(err)
}

func rejectedCertificate(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}

// Backoff is capped exponential backoff with jitter.
type Backoff struct {
	// Initial is the wait after the first failed attempt. Default 250ms.
	Initial time.Duration
	// Max caps the wait; each wait doubles up to it. Default 15s.
	Max time.Duration
}

// DefaultBackoff is the backoff of startup retries: 250ms doubling up to 15s.
var DefaultBackoff = Backoff{Initial: 250 * time.Millisecond, Max: 15 * time.Second}

// Wait returns the wait after failed attempt n (1, 2, ...): Initial doubled
// n-1 times, capped at Max, less up to a fifth at random so that a fleet
// started together does not retry in lockstep.
func (b Backoff) Wait(n int) time.Duration {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// Startup retries the Kafka steps a role takes before it can work.
type Startup struct {
	// Backoff between attempts. Zero fields take DefaultBackoff's.
	Backoff Backoff
	// Logger gets a warning per failed attempt that will be retried.
	// Default: discard.
	Logger *slog.Logger
	// Pending, when set, is the readiness check of the step: it reports
	// the last error while retrying and passes once the step succeeded.
	Pending *admin.Pending
}

// Do runs fn until it succeeds, returns an error Retriable rejects, or ctx
// is done, waiting Backoff between attempts. step names the step in the
// warnings. It returns fn's last error, or ctx's error when ctx ended the
// retries (wrapping the last attempt's error in the message).
func (s Startup) Do(ctx context.Context, step string, fn func(context.Context) error) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for n := 1; ; n++ {
		err := fn(ctx)
		if err == nil {
			s.Pending.Done()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last attempt: %v)", step, ctx.Err(), err)
		}
		if !Retriable(err) {
			return err
		}
		s.Pending.Retrying(err)
		wait := s.Backoff.Wait(n)
		logger.Warn("kafka not ready, retrying", "step", step, "attempt", n, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last attempt: %v)", step, ctx.Err(), err)
		case <-t.C:
		}
	}
}
