package tlsca

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTransport_TrustsTheCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := Transport("loki.ca_file", ca)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatalf("a server signed by the CA file: %v", err)
	}
	resp.Body.Close()
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Error("TLS below 1.2 allowed")
	}
	plain, _ := Transport("loki.ca_file", "")
	if _, err := (&http.Client{Transport: plain}).Get(srv.URL); err == nil {
		t.Error("without the CA file the self-signed server was trusted")
	}
}

func TestPool_Errors(t *testing.T) {
	if _, err := Pool("x.ca_file", "/no/such/file"); err == nil || !strings.Contains(err.Error(), "reading x.ca_file") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := Pool("x.ca_file", bad); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad file: %v", err)
	}
}
