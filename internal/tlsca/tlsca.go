// Package tlsca loads the CA certificates a client trusts: one loader for
// the Kafka client, the Elasticsearch and Loki sinks and reconcile.
package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// Pool reads the PEM certificates of path; field names the setting in
// errors (e.g. "kafka.tls.ca_file").
func Pool(field, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", field, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("reading %s: no PEM certificate in %s", field, path)
	}
	return pool, nil
}

// Transport is a clone of http.DefaultTransport that, when caFile is set,
// trusts only its certificates (TLS 1.2 at least).
func Transport(field, caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return tr, nil
	}
	pool, err := Pool(field, caFile)
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
