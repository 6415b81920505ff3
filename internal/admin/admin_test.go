package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer_Endpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var ready Readiness
	var joined atomic.Bool
	ready.Set("group", func() error {
		if !joined.Load() {
			return errors.New("not joined yet")
		}
		return nil
	})
	s, err := Listen(Config{Listen: "127.0.0.1:0"}, reg, &ready, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "group: not joined yet") {
		t.Errorf("/readyz before ready = %d %q", code, body)
	}
	joined.Store(true)
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after ready = %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "logweave_test_total 3") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	if err := (&Config{Listen: "nope"}).Validate(); err == nil || err.Error() != `listen: "nope" is not host:port` {
		t.Errorf("err = %v", err)
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("empty listen (disabled) rejected: %v", err)
	}
}

func TestPending_FailsUntilDone(t *testing.T) {
	p := NewPending("connecting to kafka")
	if err := p.Check(); err == nil || err.Error() != "connecting to kafka" {
		t.Errorf("before any attempt: %v", err)
	}
	p.Retrying(errors.New("unable to dial"))
	if err := p.Check(); err == nil || err.Error() != "connecting to kafka: retrying after: unable to dial" {
		t.Errorf("after a failed attempt: %v", err)
	}
	p.Done()
	if err := p.Check(); err != nil {
		t.Errorf("after Done: %v", err)
	}
	var none *Pending
	none.Retrying(errors.New("x")) // a nil Pending does nothing
	none.Done()
}
