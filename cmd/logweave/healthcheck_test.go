package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck_ExitStatusFollowsReadyz(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if code := run([]string{"healthcheck", "--url", srv.URL + "/readyz"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("ready: exit %d, want 0", code)
	}
	status = http.StatusServiceUnavailable
	if code := run([]string{"healthcheck", "--url", srv.URL + "/readyz"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("not ready: exit %d, want 1", code)
	}
	srv.Close()
	if code := run([]string{"healthcheck", "--url", srv.URL + "/readyz"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("nothing listening: exit %d, want 1", code)
	}
}
