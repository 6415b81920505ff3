package loki

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"
)

// Config is the `loki:` section of a loki sink.
type Config struct {
	// URL is Loki's base URL; pushes go to URL/loki/api/v1/push. Default
	// http://127.0.0.1:3100.
	URL string `yaml:"url"`
	// Tenant is the X-Scope-OrgID when the route gives none; empty sends
	// no header (single-tenant Loki).
	Tenant string `yaml:"tenant"`
	// Username/Password for basic auth, or BearerToken. Never printed.
	Username    string `yaml:"username"`
	Password    string `yaml:"password" secret:"true"`
	BearerToken string `yaml:"bearer_token" secret:"true"`
	// CAFile is a PEM bundle to trust for an https URL.
	CAFile string `yaml:"ca_file"`
	// MaxPushBytes bounds the uncompressed lines of one push; a batch is
	// split. Default 1 MiB, as Grafana's clients send.
	MaxPushBytes int `yaml:"max_push_bytes"`
	// RequestTimeout bounds one push. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// NotFoundTimeout is how long every push may be answered 404 before
	// the sink stops with an error: a 404 that lasts is a wrong URL, a
	// short one is a proxy or ingress being redeployed, and is retried.
	// Default 5m.
	NotFoundTimeout time.Duration `yaml:"not_found_timeout"`
}

// Default returns the defaults.
func Default() Config {
	return Config{URL: "http://127.0.0.1:3100", MaxPushBytes: 1 << 20, RequestTimeout: 30 * time.Second, NotFoundTimeout: 5 * time.Minute}
}

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url: %q is not an http(s) URL", c.URL)
	}
	if (c.Username == "") != (c.Password == "") {
		add("username: username and password must be set together")
	}
	if c.BearerToken != "" && c.Username != "" {
		add("bearer_token: set either bearer_token or username/password, not both")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			add("ca_file: %v", err)
		}
	}
	if c.MaxPushBytes < 1024 {
		add("max_push_bytes: must be at least 1024")
	}
	if c.RequestTimeout <= 0 {
		add("request_timeout: must be positive, e.g. 30s")
	}
	if c.NotFoundTimeout <= 0 {
		add("not_found_timeout: must be positive, e.g. 5m")
	}
	return errors.Join(errs...)
}
