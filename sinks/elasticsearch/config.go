package elasticsearch

import (
	"compress/gzip"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"
)

// Config is the `elasticsearch:` section of an elasticsearch sink.
type Config struct {
	// URLs of the nodes; requests are spread over them. Default
	// http://127.0.0.1:9200.
	URLs []string `yaml:"urls"`
	// APIKey (base64 id:key, as Kibana shows it) or Username/Password.
	// Never printed.
	APIKey   string `yaml:"api_key" secret:"true"`
	Username string `yaml:"username"`
	Password string `yaml:"password" secret:"true"`
	// CAFile is a PEM bundle to trust for https URLs.
	CAFile string `yaml:"ca_file"`
	// Compress gzips bulk request bodies. Default true.
	Compress bool `yaml:"compress"`
	// CompressLevel is the gzip level when Compress is on: 1 (fastest) to
	// 9 (smallest). Default 1: on logweave's documents it compresses
	// about 3 times faster than gzip's default level 6 for bodies about
	// 1.5 times larger (ratio 11 instead of 17; docs/BENCHMARKS.md);
	// raise it when the network to Elasticsearch, not the sink's CPU, is
	// the bottleneck.
	CompressLevel int `yaml:"compress_level"`
	// MaxBulkBytes bounds one bulk request body; a batch is split. Default
	// 5 MiB.
	MaxBulkBytes int `yaml:"max_bulk_bytes"`
	// Routing sets the routing of each document to its submit_id, so a
	// submission's documents sit on one shard. Default false.
	Routing bool `yaml:"routing"`
	// RequestTimeout bounds one bulk request. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// NotFoundTimeout is how long every bulk request may be answered 404
	// before the sink stops with an error: a 404 that lasts is a wrong URL,
	// a short one is a proxy or ingress being redeployed, and is retried.
	// Default 5m.
	NotFoundTimeout time.Duration `yaml:"not_found_timeout"`
	// Template is the index template installed at startup.
	Template Template `yaml:"template"`
}

// Template is the `template:` section.
type Template struct {
	// Install the template at startup (idempotent). Default true.
	Install bool `yaml:"install"`
	// Name of the template. Default logweave.
	Name string `yaml:"name"`
	// Patterns of the indices it applies to. Default [logweave-*].
	Patterns []string `yaml:"patterns"`
	// ILMPolicy, when set, is referenced as index.lifecycle.name.
	ILMPolicy string `yaml:"ilm_policy"`
	// Shards and Replicas of new indices. Defaults 1 and 1.
	Shards   int `yaml:"shards"`
	Replicas int `yaml:"replicas"`
}

// Default returns the defaults.
func Default() Config {
	return Config{
		URLs: []string{"http://127.0.0.1:9200"}, Compress: true, CompressLevel: gzip.BestSpeed, MaxBulkBytes: 5 << 20, RequestTimeout: 30 * time.Second,
		NotFoundTimeout: 5 * time.Minute,
		Template:        Template{Install: true, Name: "logweave", Patterns: []string{"logweave-*"}, Shards: 1, Replicas: 1},
	}
}

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.URLs) == 0 {
		add("urls: at least one node URL required, e.g. http://127.0.0.1:9200")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add("urls[%d]: %q is not an http(s) URL", i, u)
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		add("api_key: set either api_key or username/password, not both")
	}
	if (c.Username == "") != (c.Password == "") {
		add("username: username and password must be set together")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			add("ca_file: %v", err)
		}
	}
	if c.Compress && (c.CompressLevel < gzip.BestSpeed || c.CompressLevel > gzip.BestCompression) {
		add("compress_level: %d is not allowed (allowed: 1 to 9)", c.CompressLevel)
	}
	if c.MaxBulkBytes < 1024 {
		add("max_bulk_bytes: must be at least 1024")
	}
	if c.RequestTimeout <= 0 {
		add("request_timeout: must be positive, e.g. 30s")
	}
	if c.NotFoundTimeout <= 0 {
		add("not_found_timeout: must be positive, e.g. 5m")
	}
	if c.Template.Install {
		if c.Template.Name == "" {
			add("template.name: required when template.install is true")
		}
		if len(c.Template.Patterns) == 0 {
			add("template.patterns: at least one index pattern required")
		}
		if c.Template.Shards < 1 || c.Template.Replicas < 0 {
			add("template.shards: must be at least 1, and replicas not negative")
		}
	}
	return errors.Join(errs...)
}
