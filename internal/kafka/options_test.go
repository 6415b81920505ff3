package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/testkit/testkafka"
)

// ping checks that a client built from cfg can talk to the cluster.
func ping(t *testing.T, cfg kafka.Config) error {
	t.Helper()
	opts, err := kafka.Options(cfg)
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestOptions_SASL(t *testing.T) {
	for _, mech := range []string{kafka.MechanismPlain, kafka.MechanismScramSHA256, kafka.MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := testkafka.Start(t, kfake.EnableSASL(), kfake.Superuser(mech, "judge", "s3cret"))
			cfg := kafka.Default()
			cfg.Brokers = c.Brokers()
			cfg.SASL = kafka.SASL{Mechanism: mech, Username: "judge", Password: "s3cret"}
			if err := ping(t, cfg); err != nil {
				t.Fatalf("right password: %v", err)
			}
			cfg.SASL.Password = "wrong"
			if err := ping(t, cfg); err == nil {
				t.Fatal("wrong password was accepted")
			}
			// The password file form, with the trailing newline editors add.
			f := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(f, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.SASL.Password, cfg.SASL.PasswordFile = "", f
			if err := ping(t, cfg); err != nil {
				t.Fatalf("password file: %v", err)
			}
		})
	}
}

func TestOptions_TLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	serverCfg, caFile := selfSigned(t, dir)
	c := testkafka.Start(t, kfake.TLS(serverCfg))
	cfg := kafka.Default()
	cfg.Brokers = c.Brokers()
	cfg.TLS = kafka.TLS{CAFile: caFile}
	if err := ping(t, cfg); err != nil {
		t.Fatalf("tls with ca_file: %v", err)
	}
	cfg.TLS = kafka.TLS{Enabled: true} // system roots do not trust our CA
	if err := ping(t, cfg); err == nil {
		t.Fatal("tls without our CA was accepted")
	}
}

func TestOptions_BadFiles(t *testing.T) {
	cfg := kafka.Default()
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := kafka.Options(cfg); err == nil || !strings.Contains(err.Error(), "reading kafka.tls.ca_file") {
		t.Errorf("missing CA file: err = %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	cfg.TLS.CAFile = notPEM
	if _, err := kafka.Options(cfg); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("non-PEM CA file: err = %v", err)
	}
}

// selfSigned writes a CA certificate to dir and returns a server TLS config
// for 127.0.0.1 signed by it.
func selfSigned(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "logweave test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, caFile
}
