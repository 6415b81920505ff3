package config

import "testing"

// FuzzParse checks that any configuration file, with ${VAR} references
// resolved from an environment the fuzzer also picks, never panics the
// strict decoder or the redaction of secrets. (Validate is left out: it
// opens the files a configuration names, which a fuzzer could point at
// /dev/zero.)
func FuzzParse(f *testing.F) {
	f.Add([]byte("kafka:\n  brokers: [${KAFKA_BROKER:-127.0.0.1:9092}]\n  sasl: {mechanism: PLAIN, password: $${x}}\n"), "v")
	f.Add([]byte("sinks:\n  - name: es\n    type: elasticsearch\n    elasticsearch: {urls: [http://x], api_key: ${K}}\n"), "secret")
	f.Add([]byte("enrich: {completion_grace: 6s, max_pending_bytes: -1}\nunknown: 1\n"), "")
	f.Add([]byte("sinks:\n  - {name: a, type: loki, loki: ~, file: [1]}\n  - name: b\n    type: nope\n    nope: {x: 1}\n    elasticsearch: {urls: '${U}'}\n"), "")
	f.Add([]byte("${"), "")
	f.Fuzz(func(t *testing.T, b []byte, env string) {
		cfg := Default(testTypes)
		if err := Parse(b, &cfg, func(string) string { return env }); err != nil {
			return
		}
		_ = cfg.Redacted()
	})
}
