package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/sinks/elasticsearch"
	"github.com/logweave/logweave/sinks/file"
	"github.com/logweave/logweave/sinks/loki"
)

// testTypes are the sink types of the logweave binary.
var testTypes = sinks.Factories{file.NewFactory(), elasticsearch.NewFactory(), loki.NewFactory()}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "logweave.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_ExampleFile(t *testing.T) {
	cfg, err := Load("../../deploy/logweave.example.yaml", testTypes, env(nil))
	if err != nil {
		t.Fatalf("example file: %v", err)
	}
	if got := cfg.Kafka.Brokers; len(got) != 1 || got[0] != "127.0.0.1:9092" {
		t.Errorf("brokers = %v, want the ${KAFKA_BROKER:-...} default", got)
	}
	if cfg.Log.Format != "json" || cfg.ShutdownTimeout != 30*time.Second || cfg.Kafka.DialTimeout != 10*time.Second {
		t.Errorf("log/shutdown/dial = %+v %v %v", cfg.Log, cfg.ShutdownTimeout, cfg.Kafka.DialTimeout)
	}
	if cfg.Kafka.Topics.Raw.Configs["retention.ms"] != "604800000" || cfg.Kafka.Topics.DLQ.Partitions != 3 {
		t.Errorf("topics = %+v", cfg.Kafka.Topics)
	}
	// The example documents the defaults: apart from values it sets on
	// purpose, loading it must equal loading nothing.
	def := Default(testTypes)
	def.Kafka.Brokers = cfg.Kafka.Brokers
	def.Log.Format = "json"
	def.Kafka.Topics.Raw.Configs = cfg.Kafka.Topics.Raw.Configs
	def.Kafka.Topics.Enriched.Configs = cfg.Kafka.Topics.Enriched.Configs
	def.Kafka.Topics.DLQ.Configs = cfg.Kafka.Topics.DLQ.Configs
	if got, want := cfg.Redacted(), def.Redacted(); got != want {
		t.Errorf("example differs from the defaults:\n--- example\n%s--- defaults\n%s", got, want)
	}
}

func TestLoad_EnvExpansion(t *testing.T) {
	p := writeFile(t, `
kafka:
  brokers: ["${B1}", "${B2:-127.0.0.1:9093}"]
  client_id: judge-$${literal}
  sasl: {mechanism: PLAIN, username: "${USER}", password: "${PW}"}
  topics:
    raw:
      partitions: ${PARTS}
    enriched:
      partitions: ${PARTS}
shutdown_timeout: ${GRACE:-5s}
`)
	cfg, err := Load(p, testTypes, env(map[string]string{"B1": "k1:9092", "USER": "judge", "PW": "pa$$word", "PARTS": "24"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Kafka.Brokers, ",") != "k1:9092,127.0.0.1:9093" {
		t.Errorf("brokers = %v", cfg.Kafka.Brokers)
	}
	if cfg.Kafka.ClientID != "judge-${literal}" {
		t.Errorf("client_id = %q, want $$ to be a literal $", cfg.Kafka.ClientID)
	}
	if cfg.Kafka.SASL.Password != "pa$$word" {
		t.Errorf("password = %q: expanded values must not be expanded again", cfg.Kafka.SASL.Password)
	}
	if cfg.Kafka.Topics.Raw.Partitions != 24 || cfg.Kafka.Topics.Enriched.Partitions != 24 {
		t.Errorf("partitions from env = %d/%d", cfg.Kafka.Topics.Raw.Partitions, cfg.Kafka.Topics.Enriched.Partitions)
	}
	if cfg.ShutdownTimeout != 5*time.Second {
		t.Errorf("shutdown_timeout = %v", cfg.ShutdownTimeout)
	}
}

func TestLoad_Overrides(t *testing.T) {
	p := writeFile(t, "kafka: {brokers: [file:9092]}\nlog: {level: info}\n")
	cfg, err := Load(p, testTypes, env(map[string]string{
		"LOGWEAVE_KAFKA_BROKERS": "a:9092, b:9092", "LOGWEAVE_LOG_LEVEL": "debug",
		"LOGWEAVE_KAFKA_TLS_ENABLED": "true", "LOGWEAVE_ADMIN_LISTEN": "127.0.0.1:0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Kafka.Brokers, ",") != "a:9092,b:9092" || cfg.Log.Level != "debug" || !cfg.Kafka.TLS.Enabled || cfg.Admin.Listen != "127.0.0.1:0" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	_, err = Load(p, testTypes, env(map[string]string{"LOGWEAVE_KAFKA_TLS_ENABLED": "yes please"}))
	if err == nil || err.Error() != `LOGWEAVE_KAFKA_TLS_ENABLED: "yes please" is not a boolean: use true or false` {
		t.Errorf("bad override: %v", err)
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string // the whole error after the file name
	}{
		{
			name: "no brokers",
			yaml: "kafka: {client_id: x}\n",
			want: "kafka.brokers: at least one broker required (host:port)",
		},
		{
			name: "empty file needs brokers too",
			yaml: "",
			want: "kafka.brokers: at least one broker required (host:port)",
		},
		{
			name: "bad broker",
			yaml: "kafka: {brokers: [localhost]}\n",
			want: `kafka.brokers[0]: "localhost" is not host:port`,
		},
		{
			name: "empty client id",
			yaml: "kafka: {brokers: [k:9092], client_id: ''}\n",
			want: "kafka.client_id: must not be empty",
		},
		{
			name: "sasl username missing",
			yaml: "kafka: {brokers: [k:9092], sasl: {mechanism: SCRAM-SHA-512, password: p}}\n",
			want: "kafka.sasl.username: required with mechanism SCRAM-SHA-512",
		},
		{
			name: "sasl password missing",
			yaml: "kafka: {brokers: [k:9092], sasl: {mechanism: PLAIN, username: u}}\n",
			want: "kafka.sasl.password: required with mechanism PLAIN (or set sasl.password_file)",
		},
		{
			name: "sasl mechanism unknown",
			yaml: "kafka: {brokers: [k:9092], sasl: {mechanism: GSSAPI, username: u, password: p}}\n",
			want: `kafka.sasl.mechanism: "GSSAPI" is not supported (allowed: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`,
		},
		{
			name: "tls cert without key",
			yaml: "kafka: {brokers: [k:9092], tls: {cert_file: /dev/null}}\n",
			want: "kafka.tls: cert_file and key_file must be set together",
		},
		{
			name: "topic name missing",
			yaml: "kafka: {brokers: [k:9092], topics: {raw: {name: ''}}}\n",
			want: "kafka.topics.raw.name: required",
		},
		{
			name: "topic name invalid",
			yaml: "kafka: {brokers: [k:9092], topics: {dlq: {name: 'dead letters'}}}\n",
			want: `kafka.topics.dlq.name: "dead letters" has ' '; allowed are ASCII letters, digits, '.', '_' and '-'`,
		},
		{
			name: "partitions differ",
			yaml: "kafka: {brokers: [k:9092], topics: {raw: {partitions: 6}}}\n",
			want: "kafka.topics.enriched.partitions: must equal topics.raw.partitions (6): the enricher writes raw partition p to enriched partition p",
		},
		{
			name: "unknown key",
			yaml: "kafka:\n  brokers: [k:9092]\n  topics:\n    partitons: 3\n",
			want: "kafka.topics.partitons: unknown key (line 4); allowed keys under kafka.topics: bootstrap, dlq, enriched, raw, replication_factor",
		},
		{
			name: "unknown top-level key",
			yaml: "kafak: {}\n",
			want: "kafak: unknown key (line 1); allowed keys: admin, enrich, ingest, kafka, log, router, shutdown_timeout, sinks",
		},
		{
			name: "bad duration",
			yaml: "shutdown_timeout: ten seconds\nkafka: {brokers: [k:9092]}\n",
			want: `shutdown_timeout: invalid duration "ten seconds" (line 1): use a number with a unit, e.g. 500ms, 30s, 5m, 1h`,
		},
		{
			name: "duration without unit",
			yaml: "kafka: {brokers: [k:9092], dial_timeout: 10}\n",
			want: `kafka.dial_timeout: invalid duration "10" (line 1): use a number with a unit, e.g. 500ms, 30s, 5m, 1h`,
		},
		{
			name: "negative duration",
			yaml: "shutdown_timeout: -1s\nkafka: {brokers: [k:9092]}\n",
			want: "shutdown_timeout: must be positive, e.g. 30s",
		},
		{
			name: "not an integer",
			yaml: "kafka: {brokers: [k:9092], topics: {raw: {partitions: twelve}}}\n",
			want: `kafka.topics.raw.partitions: "twelve" is not an integer that fits in 32 bits (line 1)`,
		},
		{
			name: "not a boolean",
			yaml: "kafka: {brokers: [k:9092], tls: {enabled: maybe}}\n",
			want: `kafka.tls.enabled: "maybe" is not a boolean (line 1): use true or false`,
		},
		{
			name: "list expected",
			yaml: "kafka: {brokers: k:9092}\n",
			want: "kafka.brokers: expected a list (line 1)",
		},
		{
			name: "env var unset",
			yaml: "kafka: {brokers: ['${KAFKA}']}\n",
			want: "kafka.brokers[0]: environment variable KAFKA is not set (line 1); use ${KAFKA:-default} for a default",
		},
		{
			name: "bad level and format, all reported",
			yaml: "log: {level: loud, format: xml}\nkafka: {brokers: [k:9092]}\n",
			want: "log.level: \"loud\" is not allowed (allowed: debug, info, warn, error)\nlog.format: \"xml\" is not allowed (allowed: text, json)",
		},
		{
			name: "unknown key in a sink section",
			yaml: "sinks: [{name: a, type: file, file: {dirr: x}}]\n",
			want: "sinks[0].file.dirr: unknown key (line 1); allowed keys under sinks[0].file: dir, max_age, max_bytes",
		},
		{
			name: "unknown key in a sink entry",
			yaml: "sinks:\n  - name: a\n    type: file\n    files: {dir: x}\n",
			want: "sinks[0].files: unknown key (line 4); allowed keys under sinks[0]: batch, commit_interval, elasticsearch, file, loki, max_queued_records, name, retry, start, type",
		},
		{
			name: "unknown key in another type's section",
			yaml: "sinks:\n  - name: a\n    type: file\n    loki:\n      urll: x\n",
			want: "sinks[0].loki.urll: unknown key (line 5); allowed keys under sinks[0].loki: bearer_token, ca_file, max_push_bytes, not_found_timeout, password, request_timeout, tenant, url, username",
		},
		{
			name: "bad duration in a sink section",
			yaml: "sinks: [{name: a, type: file, file: {max_age: soon}}]\n",
			want: `sinks[0].file.max_age: invalid duration "soon" (line 1): use a number with a unit, e.g. 500ms, 30s, 5m, 1h`,
		},
		{
			name: "env var unset in a sink section",
			yaml: "sinks: [{name: a, type: loki, loki: {url: '${LOKI}'}}]\n",
			want: "sinks[0].loki.url: environment variable LOKI is not set (line 1); use ${LOKI:-default} for a default",
		},
		{
			name: "sink section invalid",
			yaml: "kafka: {brokers: [k:9092]}\nsinks: [{name: a, type: loki, loki: {url: 'ftp://x'}}]\n",
			want: `sinks[0].loki.url: "ftp://x" is not an http(s) URL`,
		},
		{
			name: "unknown sink type",
			yaml: "kafka: {brokers: [k:9092]}\nsinks: [{name: a, type: s3}]\n",
			want: `sinks[0].type: "s3" is not allowed (allowed: file, elasticsearch, loki)`,
		},
		{
			name: "sink section set twice",
			yaml: "sinks:\n  - name: a\n    type: file\n    file: {dir: /tmp/a}\n    file: {dir: /tmp/b}\n",
			want: "sinks[0].file: set twice (line 5)",
		},
		{
			name: "bad yaml",
			yaml: "kafka: [\n",
			want: "parsing yaml: yaml: line 1: did not find expected node content",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.yaml)
			_, err := Load(p, testTypes, env(tt.env))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			got := strings.TrimPrefix(err.Error(), p+": ")
			if got != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestRedacted_HidesSecrets(t *testing.T) {
	p := writeFile(t, "kafka: {brokers: [k:9092], sasl: {mechanism: PLAIN, username: judge, password: hunter2}}\n")
	cfg, err := Load(p, testTypes, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.Redacted()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("password printed:\n%s", out)
	}
	if !strings.Contains(out, "password: '[redacted]'") || !strings.Contains(out, "username: judge") {
		t.Errorf("redacted output:\n%s", out)
	}
	if cfg.Kafka.SASL.Password != "hunter2" {
		t.Errorf("Redacted modified the config")
	}
	// An unset secret prints as empty, so users can see it is missing.
	if d := Default(testTypes); !strings.Contains(d.Redacted(), `password: ""`) {
		t.Errorf("empty secret not shown as empty:\n%s", d.Redacted())
	}
}

// mustLoad loads body as the configuration file, with environment e.
func mustLoad(t *testing.T, body string, e map[string]string) Config {
	t.Helper()
	cfg, err := Load(writeFile(t, body), testTypes, env(e))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoad_Sinks(t *testing.T) {
	cfg := mustLoad(t, `
kafka: {brokers: [k:9092]}
sinks:
  - name: archive
    type: file
    start: "2026-11-01T00:00:00Z"
    file: {dir: /tmp/archive}
`, nil)
	s, ok := cfg.Sink("archive")
	fc, _ := s.Settings.(*file.Config)
	if !ok || fc == nil || s.Batch.MaxRecords != 500 || fc.MaxBytes != 100<<20 || fc.Dir != "/tmp/archive" || s.Group() != "logweave-sink-archive" {
		t.Errorf("a partial entry did not get the defaults: %+v", s)
	}
	if _, ok := cfg.Sink("file"); ok {
		t.Errorf("the default file sink survived an explicit sinks list")
	}
	for _, tt := range []struct{ yaml, want string }{
		{"kafka: {brokers: [k:9092]}\nsinks: [{name: a, type: kafka}]\n", `sinks[0].type: "kafka" is not allowed (allowed: file, elasticsearch, loki)`},
		{"kafka: {brokers: [k:9092]}\nsinks: [{name: a, type: file}, {name: a, type: file}]\n", `sinks[1].name: "a" is used by another sink`},
		{"kafka: {brokers: [k:9092]}\nsinks: [{name: A, type: file}]\n", `sinks[0].name: "A" is not allowed`},
		{"kafka: {brokers: [k:9092]}\nsinks: [{name: a, type: file, start: yesterday}]\n", `sinks[0].start: "yesterday" is not earliest, latest or an RFC 3339 time`},
		{"kafka: {brokers: [k:9092]}\nsinks: [{name: a, type: file, batch: {max_record: 5}}]\n", `sinks[0].batch.max_record: unknown key`},
		{"kafka: {brokers: [k:9092]}\nrouter: {file: /nonexistent/routes.yaml}\n", `router.file: reading routes: open /nonexistent/routes.yaml`},
	} {
		_, err := Load(writeFile(t, tt.yaml), testTypes, env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n got: %v\nwant: %s", tt.yaml, err, tt.want)
		}
	}
}

func TestLoad_SinkSections(t *testing.T) {
	cfg := mustLoad(t, `
kafka: {brokers: [k:9092]}
sinks:
  - name: es
    type: elasticsearch
    elasticsearch:
      urls: ["${ES_URL}"]
      api_key: ${ES_KEY}
  - name: loki
    type: loki
    loki: {url: "http://loki:3100", tenant: judge}
`, map[string]string{"ES_URL": "https://es:9200", "ES_KEY": "c2VjcmV0"})
	es, _ := cfg.Sink("es")
	ec, ok := es.Settings.(*elasticsearch.Config)
	if !ok || strings.Join(ec.URLs, ",") != "https://es:9200" || ec.APIKey != "c2VjcmV0" || ec.MaxBulkBytes != 5<<20 {
		t.Errorf("elasticsearch section: %#v, want the env values over the defaults", es.Settings)
	}
	lk, _ := cfg.Sink("loki")
	if lc, ok := lk.Settings.(*loki.Config); !ok || lc.URL != "http://loki:3100" || lc.Tenant != "judge" || lc.MaxPushBytes != 1<<20 {
		t.Errorf("loki section: %#v", lk.Settings)
	}
	out := cfg.Redacted()
	if strings.Contains(out, "c2VjcmV0") || !strings.Contains(out, "api_key: '[redacted]'") {
		t.Errorf("the api key is not redacted:\n%s", out)
	}
	if !regexp.MustCompile(`\n( +)type: loki\n( +)loki:\n +url: http://loki:3100\n`).MatchString(out) ||
		strings.Count(out, " loki:\n") != 1 || strings.Count(out, " elasticsearch:\n") != 1 || strings.Contains(out, "max_age:") {
		t.Errorf("an entry prints its own section under its type, and no other:\n%s", out)
	}
	if ec.APIKey != "c2VjcmV0" {
		t.Errorf("Redacted modified the config")
	}
}

// TestParse_DocsSinkExamples: every `sinks:` example of the docs loads as
// it is written, each entry with its type's section.
func TestParse_DocsSinkExamples(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(sinks:\n.*?)```")
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(b), -1) {
			n++
			cfg := Default(testTypes)
			if err := Parse([]byte(m[1]), &cfg, func(string) string { return "set" }); err != nil {
				t.Errorf("%s: example does not load: %v\n%s", page, err, m[1])
				continue
			}
			for _, s := range cfg.Sinks {
				if f, ok := testTypes.Get(s.Type); !ok || s.Settings == nil || reflect.TypeOf(s.Settings) != reflect.TypeOf(f.DefaultConfig()) {
					t.Errorf("%s: sink %q of type %q has section %T", page, s.Name, s.Type, s.Settings)
				}
			}
		}
	}
	if n < 3 {
		t.Errorf("found %d sinks: examples in docs/, want the elasticsearch, loki and adding-a-sink ones", n)
	}
}
