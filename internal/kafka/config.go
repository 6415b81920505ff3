package kafka

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// SASL mechanisms accepted in SASL.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Default topic names.
const (
	DefaultRawTopic      = "logweave.raw"
	DefaultEnrichedTopic = "logweave.enriched"
	DefaultDLQTopic      = "logweave.dlq"
)

// Config is the `kafka:` section of the logweave configuration.
type Config struct {
	// Brokers are the seed brokers, host:port. Required; no default.
	Brokers []string `yaml:"brokers"`
	// ClientID is sent to the brokers and shows in their logs and quotas.
	// Default "logweave"; each role appends its name (Clients):
	// logweave-ingest, logweave-enrich, logweave-sink-<name>,
	// logweave-replay, ...
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds one connection attempt. Default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLS configures encryption to the brokers. Default off.
	TLS TLS `yaml:"tls"`
	// SASL configures authentication. Default none.
	SASL SASL `yaml:"sasl"`
	// Topics names the logweave topics and how to create them.
	Topics Topics `yaml:"topics"`
}

// TLS is the `kafka.tls:` section.
type TLS struct {
	// Enabled turns TLS on. Default false. Setting any file turns it on too.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker certificate.
	// Default: the host of each broker address.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks. Default false; for
	// tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// On reports whether TLS is configured.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
}

// SASL is the `kafka.sasl:` section.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables
	// SASL. Default empty.
	Mechanism string `yaml:"mechanism"`
	// Username to authenticate as. Required with a mechanism.
	Username string `yaml:"username"`
	// Password for Username. Never printed. Prefer ${ENV} expansion or
	// PasswordFile over writing it in the file.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile is read at startup when Password is empty; trailing
	// newlines are trimmed.
	PasswordFile string `yaml:"password_file"`
}

// Topic is one topic logweave uses.
type Topic struct {
	// Name of the topic.
	Name string `yaml:"name"`
	// Partitions to create it with. Scale of a role is bounded by this.
	Partitions int32 `yaml:"partitions"`
	// Configs are extra topic configs used at creation (retention.ms, ...).
	Configs map[string]string `yaml:"configs"`
}

// Topics is the `kafka.topics:` section.
type Topics struct {
	// Bootstrap creates missing topics at startup and checks the partition
	// counts of existing ones. Default true.
	Bootstrap bool `yaml:"bootstrap"`
	// ReplicationFactor for created topics; -1 uses the broker default.
	// Default -1.
	ReplicationFactor int16 `yaml:"replication_factor"`
	// Raw holds logs and spans from ingest. Default logweave.raw, 12
	// partitions.
	Raw Topic `yaml:"raw"`
	// Enriched holds enriched records. It must have as many partitions as
	// Raw: the enricher writes raw partition p's submissions to enriched
	// partition p. Default logweave.enriched, 12 partitions.
	Enriched Topic `yaml:"enriched"`
	// DLQ holds records sinks could not write. Default logweave.dlq, 3
	// partitions.
	DLQ Topic `yaml:"dlq"`
}

// Default returns the defaults documented on each field.
func Default() Config {
	return Config{
		ClientID:    "logweave",
		DialTimeout: 10 * time.Second,
		Topics: Topics{
			Bootstrap:         true,
			ReplicationFactor: -1,
			Raw:               Topic{Name: DefaultRawTopic, Partitions: 12},
			Enriched:          Topic{Name: DefaultEnrichedTopic, Partitions: 12},
			DLQ:               Topic{Name: DefaultDLQTopic, Partitions: 3},
		},
	}
}

// Validate checks the section. Each error starts with the field name
// relative to the section, e.g. "brokers: at least one broker required".
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		add("brokers: at least one broker required (host:port)")
	}
	for i, b := range c.Brokers {
		if !validHostPort(b) {
			add("brokers[%d]: %q is not host:port", i, b)
		}
	}
	if c.ClientID == "" {
		add("client_id: must not be empty")
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout: must be positive, e.g. 10s")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls: cert_file and key_file must be set together")
	}
	for field, path := range map[string]string{"tls.ca_file": c.TLS.CAFile, "tls.cert_file": c.TLS.CertFile, "tls.key_file": c.TLS.KeyFile, "sasl.password_file": c.SASL.PasswordFile} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			add("%s: %v", field, err)
		}
	}
	switch c.SASL.Mechanism {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" || c.SASL.PasswordFile != "" {
			add("sasl.mechanism: required when sasl credentials are set (allowed: %s, %s, %s)", MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
		}
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		if c.SASL.Username == "" {
			add("sasl.username: required with mechanism %s", c.SASL.Mechanism)
		}
		if c.SASL.Password == "" && c.SASL.PasswordFile == "" {
			add("sasl.password: required with mechanism %s (or set sasl.password_file)", c.SASL.Mechanism)
		}
		if c.SASL.Password != "" && c.SASL.PasswordFile != "" {
			add("sasl.password: set either password or password_file, not both")
		}
	default:
		add("sasl.mechanism: %q is not supported (allowed: %s, %s, %s)", c.SASL.Mechanism, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
	}
	errs = append(errs, c.Topics.validate()...)
	return errors.Join(errs...)
}

func (t *Topics) validate() []error {
	var errs []error
	if t.ReplicationFactor == 0 || t.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("topics.replication_factor: %d is not allowed (use -1 for the broker default, or 1 and up)", t.ReplicationFactor))
	}
	names := map[string]string{}
	for _, e := range []struct {
		field string
		t     Topic
	}{{"raw", t.Raw}, {"enriched", t.Enriched}, {"dlq", t.DLQ}} {
		if e.t.Name == "" {
			errs = append(errs, fmt.Errorf("topics.%s.name: required", e.field))
		} else if err := validTopicName(e.t.Name); err != nil {
			errs = append(errs, fmt.Errorf("topics.%s.name: %w", e.field, err))
		} else if other, dup := names[e.t.Name]; dup {
			errs = append(errs, fmt.Errorf("topics.%s.name: %q is already used by topics.%s", e.field, e.t.Name, other))
		} else {
			names[e.t.Name] = e.field
		}
		if e.t.Partitions < 1 {
			errs = append(errs, fmt.Errorf("topics.%s.partitions: must be at least 1", e.field))
		}
	}
	if t.Raw.Partitions >= 1 && t.Enriched.Partitions != t.Raw.Partitions {
		errs = append(errs, fmt.Errorf("topics.enriched.partitions: must equal topics.raw.partitions (%d): the enricher writes raw partition p to enriched partition p", t.Raw.Partitions))
	}
	return errs
}

// validTopicName applies Kafka's topic name rules.
func validTopicName(s string) error {
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not a valid topic name", s)
	}
	if len(s) > 249 {
		return fmt.Errorf("longer than 249 characters")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q has %q; allowed are ASCII letters, digits, '.', '_' and '-'", s, r)
		}
	}
	return nil
}

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for _, r := range s[i+1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
