package main

// sim.go: the Antom gateway, played by this module's simulator package in its own process
// (`antombench sim`). It serves HTTPS, as Antom does, with a throwaway RSA-2048 certificate for
// 127.0.0.1 (caddy trusts it through SSL_CERT_FILE), and counts the TCP connections it accepts
// so connection reuse can be seen. Per API call the simulator verifies the request signature
// and signs its answer: one RSA-2048 signature per call on the gateway side.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/simulator"
)

// simStats is what GET /stats on the control port answers.
type simStats struct {
	Conns    int64 `json:"conns"`    // TCP connections accepted
	Requests int64 `json:"requests"` // HTTP requests served
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func runSim(args []string) {
	fs := flag.NewFlagSet("sim", flag.ExitOnError)
	keyFile := fs.String("key", "", "the simulator's (Antom's) private key, PEM")
	merchantPub := fs.String("merchant-public-key", "", "the merchant's public key, base64 SPKI or PEM")
	caOut := fs.String("ca-out", "", "write the TLS certificate (PEM) here, for SSL_CERT_FILE")
	_ = fs.Parse(args)

	keyPEM, err := os.ReadFile(*keyFile)
	if err != nil {
		fatalf("sim: %v", err)
	}
	key, err := antom.ParsePrivateKey(string(keyPEM))
	if err != nil {
		fatalf("sim: %v", err)
	}
	pubText, err := os.ReadFile(*merchantPub)
	if err != nil {
		fatalf("sim: %v", err)
	}
	pub, err := antom.ParsePublicKey(string(pubText))
	if err != nil {
		fatalf("sim: %v", err)
	}
	sim, err := simulator.New(simulator.Config{
		Key:       key,
		Merchants: []simulator.Merchant{{ClientID: clientID, PublicKey: pub}},
	})
	if err != nil {
		fatalf("sim: %v", err)
	}
	defer sim.Close()

	cert, certPEM, err := selfSignedCert()
	if err != nil {
		fatalf("sim: %v", err)
	}
	if err := os.WriteFile(*caOut, certPEM, 0o644); err != nil {
		fatalf("sim: %v", err)
	}
	var conns, requests atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("sim: %v", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			sim.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.ServeTLS(countingListener{ln, &conns}, "", "") }()

	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("sim: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, simStats{Conns: conns.Load(), Requests: requests.Load()})
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		conns.Store(0)
		requests.Store(0)
	})
	fmt.Printf("ready %s %s\n", ln.Addr(), ctl.Addr())
	_ = http.Serve(ctl, mux)
}

// selfSignedCert is an RSA-2048 certificate for 127.0.0.1, valid for a day. RSA because Antom's
// gateways present RSA certificates; a full TLS handshake then costs the server one more
// RSA-2048 signature, which is what a client that opens a connection per call pays for.
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "antombench simulator"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}
