package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// pebbleVersion is the Let's Encrypt test CA the ACME tests run against. Both of its commands
// are built from the Go module proxy by `go install <pkg>@<exact version>` (an exact version
// needs no version list from the proxy).
const pebbleVersion = "v2.10.3"

// pebbleBinaries builds pebble and pebble-challtestsrv into bin/pebble-<version>/ (go's build
// cache makes a second run cheap) and returns their paths.
func pebbleBinaries(t testing.TB) (pebble, challtestsrv string) {
	t.Helper()
	dir := filepath.Join(repoRoot, "bin", "pebble-"+pebbleVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install",
		"github.com/letsencrypt/pebble/v2/cmd/pebble@"+pebbleVersion,
		"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@"+pebbleVersion)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building pebble %s from the Go module proxy: %v\n%s", pebbleVersion, err, out)
	}
	return filepath.Join(dir, "pebble"), filepath.Join(dir, "pebble-challtestsrv")
}

// pebbleOpts configures startPebble.
type pebbleOpts struct {
	HTTPPort int           // where the CA validates HTTP-01 challenges: caddy's http_port
	TLSPort  int           // where it validates TLS-ALPN-01 challenges: caddy's https_port
	Validity time.Duration // lifetime of the certificates it issues
}

// pebbleCA is a running pebble with its challtestsrv DNS, which answers every A query with
// 127.0.0.1 (and no AAAA), so any domain "points" at this machine for the CA's validations.
type pebbleCA struct {
	Directory  string         // the ACME directory URL, for caddy's acme_ca
	ServerRoot string         // PEM file of the CA's own HTTPS certificate, for caddy's acme_ca_root
	Roots      *x509.CertPool // the root that signs issued certificates, for clients of the site
	logs       *syncBuffer    // pebble's log
}

// Logs returns what pebble logged so far.
func (ca *pebbleCA) Logs() string { return ca.logs.String() }

// startPebble starts pebble-challtestsrv and pebble on free loopback ports; both are stopped at
// test end. Validations are real (no PEBBLE_VA_ALWAYS_VALID): pebble resolves the domain through
// challtestsrv and connects to HTTPPort / TLSPort on 127.0.0.1. Only the random waits and nonce
// rejections pebble adds to shake out client bugs are turned off, to keep the test short.
func startPebble(t testing.TB, o pebbleOpts) *pebbleCA {
	t.Helper()
	pebbleBin, challBin := pebbleBinaries(t)
	dir := t.TempDir()

	dns, dnsMgmt := freeAddr(t), freeAddr(t)
	startProcess(t, "pebble-challtestsrv", nil, challBin,
		"-dnsserver", dns, "-management", dnsMgmt, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "")

	certFile, keyFile, serverCert := writeLoopbackCert(t, dir)
	listen, mgmt := freeAddr(t), freeAddr(t)
	config, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                o.HTTPPort,
		"tlsPort":                 o.TLSPort,
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description":    "short-lived certificates, so that renewals happen during a test",
			"validityPeriod": int(o.Validity / time.Second),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(configFile, config, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := startProcess(t, "pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		pebbleBin, "-config", configFile, "-dnsserver", dns)

	// Pebble makes a new root at every start; its management endpoint hands it out.
	pool := x509.NewCertPool()
	pool.AddCert(serverCert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var root []byte
	waitFor(t, 30*time.Second, "pebble's management endpoint to hand out its root", func() bool {
		resp, err := client.Get("https://" + mgmt + "/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		root, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's /roots/0 is not a PEM certificate: %.200q", root)
	}
	directory := "https://" + listen + "/dir"
	waitFor(t, 30*time.Second, "pebble's ACME directory", func() bool {
		resp, err := client.Get(directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &pebbleCA{Directory: directory, ServerRoot: certFile, Roots: roots, logs: logs}
}

// writeLoopbackCert writes a self-signed certificate for 127.0.0.1 and its key, for pebble's own
// HTTPS listeners, and returns the two files and the parsed certificate.
func writeLoopbackCert(t testing.TB, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pebble on 127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "pebble-cert.pem"), filepath.Join(dir, "pebble-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// startProcess runs a helper program for the test's lifetime, with env added to the test's
// environment; it is killed at test end and its output is dumped if the test failed.
func startProcess(t testing.TB, name string, env []string, bin string, args ...string) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("---- %s logs ----\n%s---- end of %s logs ----", name, logs.String(), name)
		}
	})
	return logs
}

// domainClient is a client for a site whose domain exists only in the test, seen as from the
// internet with ports 80 and 443 forwarded to caddy's http_port and https_port: connections to
// port 80 go to 127.0.0.1:httpPort, to 443 to 127.0.0.1:httpsPort, while TLS still checks the
// certificate against the URL's host name (SNI) and roots. Each request opens a new connection,
// as a notification sender does, so every response shows the certificate served at that moment.
// Redirects are returned, not followed, unless follow is true.
func domainClient(roots *x509.CertPool, httpPort, httpsPort int, follow bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	forwarded := map[string]int{"80": httpPort, "443": httpsPort}
	c := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if forwarded[port] == 0 {
					return nil, fmt.Errorf("domainClient: no port %s on the test's internet", port)
				}
				return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", forwarded[port]))
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
	}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// sendSigned POSTs a notification with its signed headers (signNotification) through client and
// returns the response, its body already read, or the transport error. It does not touch t, so
// that senders can run in goroutines.
func sendSigned(client *http.Client, rawURL string, header http.Header, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer of %s: %w", rawURL, err)
	}
	return resp, b, nil
}
