package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// loki is a real Loki the loki sink pushes to: the binary of
// Config.LokiBin with filesystem storage in the round's directory (the
// configuration of testkit/lokitest, with ingestion limits raised so that
// the bench's burst is not rate-limited). Its CPU is not the sink's; it is
// reported beside the row.
type loki struct {
	c   *child
	url string
}

// startLoki starts Loki listening on httpAddr and waits until it answers
// /ready.
func startLoki(ctx context.Context, bin, dir, httpAddr string) (*loki, error) {
	dir = filepath.Join(dir, "loki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, httpPort, _ := strings.Cut(httpAddr, ":")
	_, grpcPort, _ := strings.Cut(grpcAddr, ":")
	conf := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(lokiConfig, httpPort, grpcPort, dir)), 0o644); err != nil {
		return nil, err
	}
	c, err := startChild(bin, dir, "loki", httpAddr, nil, "-config.file="+conf)
	if err != nil {
		return nil, err
	}
	l := &loki{c: c, url: "http://" + httpAddr}
	for {
		if err := c.exited(); err != nil {
			return nil, err
		}
		if code, err := httpGet(ctx, l.url+"/ready", io.Discard); err == nil && code == http.StatusOK {
			return l, nil
		}
		select {
		case <-ctx.Done():
			c.stop(10 * time.Second)
			return nil, fmt.Errorf("waiting for loki to be ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *loki) stop() { l.c.stop(30 * time.Second) }

// lokiBinary returns the Loki binary to run, or "" with the reason when
// there is none.
func lokiBinary(bin string) (string, string) {
	if bin == "" {
		return "", "no Loki binary given (--loki-bin or LOGWEAVE_LOKI_BIN)"
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Sprintf("no Loki binary at %s (%v); `make loki` builds one", bin, err)
	}
	return bin, ""
}

// lokiConfig: single binary, filesystem storage, in-memory ring, the WAL
// on (as deployed), structured metadata allowed, limits far above the
// bench's rate. Arguments: HTTP port, gRPC port, data directory.
const lokiConfig = `auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %[1]s
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %[2]s
  log_level: warn
  grpc_server_max_recv_msg_size: 104857600
common:
  instance_addr: 127.0.0.1
  path_prefix: %[3]s/data
  storage:
    filesystem:
      chunks_directory: %[3]s/data/chunks
      rules_directory: %[3]s/data/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
  reject_old_samples: true
  reject_old_samples_max_age: 168h
  ingestion_rate_mb: 1024
  ingestion_burst_size_mb: 1024
  per_stream_rate_limit: 1GB
  per_stream_rate_limit_burst: 1GB
ingester:
  wal:
    enabled: true
    dir: %[3]s/data/wal
    flush_on_shutdown: false
  lifecycler:
    min_ready_duration: 0s
analytics:
  reporting_enabled: false
memberlist:
  bind_addr: [127.0.0.1]
`
