package config

import (
	"fmt"
	"strconv"
	"strings"
)

// override is one LOGWEAVE_* environment variable and the field it sets.
type override struct {
	env   string
	field string
	set   func(c *Config, v string) error
}

// Overrides lists the environment variables that override the file, for
// documentation and `logweave config`.
func Overrides() []string {
	out := make([]string, len(overrides))
	for i, o := range overrides {
		out[i] = o.env + " -> " + o.field
	}
	return out
}

var overrides = []override{
	{"LOGWEAVE_KAFKA_BROKERS", "kafka.brokers (comma-separated)", func(c *Config, v string) error {
		c.Kafka.Brokers = splitList(v)
		return nil
	}},
	{"LOGWEAVE_KAFKA_CLIENT_ID", "kafka.client_id", func(c *Config, v string) error { c.Kafka.ClientID = v; return nil }},
	{"LOGWEAVE_KAFKA_TLS_ENABLED", "kafka.tls.enabled", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Kafka.TLS.Enabled = b
		return boolErr(err, v)
	}},
	{"LOGWEAVE_KAFKA_TLS_CA_FILE", "kafka.tls.ca_file", func(c *Config, v string) error { c.Kafka.TLS.CAFile = v; return nil }},
	{"LOGWEAVE_KAFKA_SASL_MECHANISM", "kafka.sasl.mechanism", func(c *Config, v string) error { c.Kafka.SASL.Mechanism = v; return nil }},
	{"LOGWEAVE_KAFKA_SASL_USERNAME", "kafka.sasl.username", func(c *Config, v string) error { c.Kafka.SASL.Username = v; return nil }},
	{"LOGWEAVE_KAFKA_SASL_PASSWORD", "kafka.sasl.password", func(c *Config, v string) error { c.Kafka.SASL.Password = v; return nil }},
	{"LOGWEAVE_LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"LOGWEAVE_LOG_FORMAT", "log.format", func(c *Config, v string) error { c.Log.Format = v; return nil }},
	{"LOGWEAVE_INGEST_LISTEN", "ingest.listen", func(c *Config, v string) error { c.Ingest.Listen = v; return nil }},
	{"LOGWEAVE_INGEST_GRPC_LISTEN", "ingest.grpc_listen", func(c *Config, v string) error { c.Ingest.GRPCListen = v; return nil }},
	{"LOGWEAVE_INGEST_TOKEN", "ingest.auth.token", func(c *Config, v string) error { c.Ingest.Auth.Token = v; return nil }},
	{"LOGWEAVE_ADMIN_LISTEN", "admin.listen", func(c *Config, v string) error { c.Admin.Listen = v; return nil }},
}

func applyOverrides(c *Config, getenv func(string) string) error {
	for _, o := range overrides {
		v := getenv(o.env)
		if v == "" {
			continue
		}
		if err := o.set(c, v); err != nil {
			return fmt.Errorf("%s: %w", o.env, err)
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func boolErr(err error, v string) error {
	if err != nil {
		return fmt.Errorf("%q is not a boolean: use true or false", v)
	}
	return nil
}
