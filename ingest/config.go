package ingest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Config is the `ingest:` section.
type Config struct {
	// Listen is the HTTP address. Default 127.0.0.1:4318, the OTLP/HTTP
	// port.
	Listen string `yaml:"listen"`
	// GRPCListen is the OTLP/gRPC address. Default 127.0.0.1:4317, the
	// OTLP/gRPC port. Empty turns the gRPC receiver off.
	GRPCListen string `yaml:"grpc_listen"`
	// MaxBodyBytes bounds a request body, before and after gzip
	// decompression. Default 8 MiB. Larger requests get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxRecordsPerRequest bounds the records of one request. Default
	// 10000. More get 413.
	MaxRecordsPerRequest int `yaml:"max_records_per_request"`
	// MaxRecordBytes bounds one encoded record. Default 900 KiB, under
	// Kafka's default 1 MB message limit. Larger records are rejected
	// alone (partial success).
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxAttributes bounds the attributes of one record. Default 128.
	MaxAttributes int `yaml:"max_attributes"`
	// MaxFutureSkew rejects records whose event time is further than this
	// ahead of the receiver's clock. Default 1h.
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// InvalidUTF8 is what happens to JSON and NDJSON text that is not
	// valid UTF-8: "replace" (default) replaces bad bytes with U+FFFD,
	// "reject" rejects the line (NDJSON) or the request (OTLP JSON).
	// OTLP protobuf with invalid UTF-8 is always a malformed request,
	// because protobuf strings must be UTF-8.
	InvalidUTF8 string `yaml:"invalid_utf8"`
	// ProduceTimeout bounds how long a request waits for Kafka to
	// acknowledge its records before answering 503. Default 10s.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// RetryAfter is the Retry-After sent with 429 and 503. Default 5s.
	RetryAfter time.Duration `yaml:"retry_after"`
	// MaxBufferedRecords bounds records waiting in the producer across all
	// requests; past it requests get 429. Default 100000.
	MaxBufferedRecords int `yaml:"max_buffered_records"`
	// Compression of produced batches: zstd, lz4, snappy, gzip or none.
	// Default zstd.
	Compression string `yaml:"compression"`
	// Linger is how long a partition's batch waits for more records
	// before it is sent (franz-go's ProducerLinger), 0 to 1s. Default
	// 1ms. A request is answered after Kafka acknowledged its records, so
	// the linger is part of every request's latency: at 5ms logweave
	// bench's senders waited 2.2 times longer for the same records, at
	// the same CPU per record (docs/ingest.md, "Producing to Kafka").
	Linger time.Duration `yaml:"linger"`
	// Auth is optional bearer-token authentication.
	Auth Auth `yaml:"auth"`
	// TLS serves HTTPS when both files are set.
	TLS ServerTLS `yaml:"tls"`
	// Keys lists, per submission field, the attribute keys it is read
	// from, first match wins; record attributes are searched before
	// resource attributes.
	Keys Keys `yaml:"keys"`
}

// Auth is the `ingest.auth:` section.
type Auth struct {
	// Token, when set, is required as "Authorization: Bearer <token>".
	// Never printed; prefer ${ENV} or TokenFile.
	Token string `yaml:"token" secret:"true"`
	// TokenFile is read at startup when Token is empty.
	TokenFile string `yaml:"token_file"`
}

// ServerTLS is the `ingest.tls:` section.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Keys is the `ingest.keys:` section.
type Keys struct {
	SubmitID      []string `yaml:"submit_id"`
	UserID        []string `yaml:"user_id"`
	ProblemID     []string `yaml:"problem_id"`
	SubmissionSeq []string `yaml:"submission_seq"`
	Lang          []string `yaml:"lang"`
	Stage         []string `yaml:"stage"`
	LogType       []string `yaml:"log_type"`
}

// Default returns the defaults documented on each field.
func Default() Config {
	return Config{
		Listen:               "127.0.0.1:4318",
		GRPCListen:           "127.0.0.1:4317",
		MaxBodyBytes:         8 << 20,
		MaxRecordsPerRequest: 10000,
		MaxRecordBytes:       900 << 10,
		MaxAttributes:        128,
		MaxFutureSkew:        time.Hour,
		InvalidUTF8:          "replace",
		ProduceTimeout:       10 * time.Second,
		RetryAfter:           5 * time.Second,
		MaxBufferedRecords:   100000,
		Compression:          "zstd",
		Linger:               time.Millisecond,
		Keys: Keys{
			SubmitID:      []string{"submit_id", "submit.id", "submission_id", "submission.id"},
			UserID:        []string{"user_id", "user.id", "enduser.id"},
			ProblemID:     []string{"problem_id", "problem.id"},
			SubmissionSeq: []string{"submission_seq", "submission.seq"},
			Lang:          []string{"lang", "language", "submission.lang"},
			Stage:         []string{"stage", "submission.stage"},
			LogType:       []string{"log_type", "log.type"},
		},
	}
}

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port", c.Listen)
	}
	if c.GRPCListen != "" {
		if _, _, err := net.SplitHostPort(c.GRPCListen); err != nil {
			add("grpc_listen: %q is not host:port (empty turns gRPC off)", c.GRPCListen)
		}
	}
	if c.MaxBodyBytes < 1024 {
		add("max_body_bytes: must be at least 1024")
	}
	if c.MaxRecordsPerRequest < 1 {
		add("max_records_per_request: must be at least 1")
	}
	if c.MaxRecordBytes < 256 || c.MaxRecordBytes > 16<<20 {
		add("max_record_bytes: must be between 256 and 16777216")
	}
	if c.MaxAttributes < 0 {
		add("max_attributes: must not be negative")
	}
	if c.MaxFutureSkew <= 0 {
		add("max_future_skew: must be positive, e.g. 1h")
	}
	if c.InvalidUTF8 != "replace" && c.InvalidUTF8 != "reject" {
		add("invalid_utf8: %q is not allowed (allowed: replace, reject)", c.InvalidUTF8)
	}
	if c.ProduceTimeout <= 0 {
		add("produce_timeout: must be positive, e.g. 10s")
	}
	if c.RetryAfter < time.Second {
		add("retry_after: must be at least 1s")
	}
	if c.MaxBufferedRecords < 1 {
		add("max_buffered_records: must be at least 1")
	}
	if c.Linger < 0 || c.Linger > time.Second {
		add("linger: %s is not allowed (0 to 1s)", c.Linger)
	}
	switch c.Compression {
	case "zstd", "lz4", "snappy", "gzip", "none":
	default:
		add("compression: %q is not allowed (allowed: zstd, lz4, snappy, gzip, none)", c.Compression)
	}
	if c.Auth.Token != "" && c.Auth.TokenFile != "" {
		add("auth.token: set either token or token_file, not both")
	}
	if c.Auth.TokenFile != "" {
		if _, err := os.Stat(c.Auth.TokenFile); err != nil {
			add("auth.token_file: %v", err)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls: cert_file and key_file must be set together")
	}
	for _, f := range []struct {
		name string
		keys []string
	}{{"submit_id", c.Keys.SubmitID}, {"user_id", c.Keys.UserID}, {"problem_id", c.Keys.ProblemID},
		{"submission_seq", c.Keys.SubmissionSeq}, {"lang", c.Keys.Lang}, {"stage", c.Keys.Stage}, {"log_type", c.Keys.LogType}} {
		for i, k := range f.keys {
			if k == "" {
				add("keys.%s[%d]: must not be empty", f.name, i)
			}
		}
	}
	return errors.Join(errs...)
}
