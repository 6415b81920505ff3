package sinks

import (
	"sync"
	"time"
)

// NotFoundClock tells a 404 that lasts (a wrong URL: the sink should stop
// with a clear error) from a short one (a proxy or ingress being
// redeployed: retry). Partitions write concurrently; any answer other than
// 404 from any of them restarts the clock. The zero value is ready.
type NotFoundClock struct {
	mu    sync.Mutex
	since time.Time // first 404 since the last other answer; zero if none
	// Now is the clock; time.Now when nil (tests set one).
	Now func() time.Time
}

// NotFound records a 404 and returns how long every answer has been 404.
func (c *NotFoundClock) NotFound() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	if c.since.IsZero() {
		c.since = now
	}
	return now.Sub(c.since)
}

// Answered records an answer other than 404.
func (c *NotFoundClock) Answered() {
	c.mu.Lock()
	c.since = time.Time{}
	c.mu.Unlock()
}
