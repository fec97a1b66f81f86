package main

// proxy.go: the API path of a checkout (createPaymentSession), three ways, interleaved at each
// load so they see the same machine:
//
//	api_proxy           app -> caddy (antom_api signs, verifies the answer) -> simulator
//	api_direct          app signs itself, keep-alive HTTPS client -> simulator
//	api_direct_newconn  the same, but a new TCP+TLS connection per call (as some SDKs do)
//
// RSA-2048 private-key operations per call: one request signature (caddy, or the app) and one
// response signature (the simulator), plus two verifications; a new connection adds one more
// signature on the simulator (the TLS handshake with its RSA certificate). They all run on this
// machine's 2 cores and are counted in, not taken out. For the direct client the time it spends
// signing and verifying is also reported separately ("net" = latency without it).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

const proxyAPI = "v1/payments/createPaymentSession"

func runProxy(ctx context.Context, o *options, env *benchEnv, b build, run int) ([]phase, error) {
	tmpl, err := os.ReadFile(filepath.Join(o.vectors, "request", "body.json"))
	if err != nil {
		return nil, err
	}
	tmpl = bytes.TrimSpace(tmpl)
	const tmplID = "PAYREQ_20240101_0001"
	if !bytes.Contains(tmpl, []byte(tmplID)) {
		return nil, fmt.Errorf("request/body.json has no %s to make unique", tmplID)
	}
	tag := make([]byte, 4)
	_, _ = rand.Read(tag)
	var seq atomic.Int64
	body := func() []byte { // a new paymentRequestId per call: every call creates a session
		id := fmt.Sprintf("BENCH_%s_%09d", hex.EncodeToString(tag), seq.Add(1))
		return bytes.Replace(tmpl, []byte(tmplID), []byte(id), 1)
	}

	c, err := env.startCaddy(ctx, b, "proxy-"+b.name)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	logf("proxy: %s caddy (run %d), pid %d", b.name, run, c.pid())

	// app -> caddy: plain HTTP on loopback, keep-alive.
	hc := loadClient()
	proxyURL := "http://" + c.ports.api + "/antom/" + proxyAPI
	viaCaddy := func(ctx context.Context) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, proxyURL, bytes.NewReader(body()))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		return 0, checkAnswer(resp.StatusCode, raw)
	}

	// app -> simulator directly, like an SDK.
	caPEM, err := os.ReadFile(env.simCA)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	keepAlive := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true,
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}}
	newConn := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}}
	signer := antom.Signer{ClientID: clientID, KeyVersion: "1", Key: env.merchantKey}
	keys := antom.NewKeyring(&env.antomKey.PublicKey)
	path := antom.GatewayPath(clientID, proxyAPI)
	gatewayURL := "https://" + env.sim.addr + path
	direct := func(client *http.Client) doFunc {
		return func(ctx context.Context) (time.Duration, error) {
			b := body()
			t0 := time.Now()
			reqTime := antom.RequestTime(t0)
			sig, err := signer.SignRequest(http.MethodPost, path, reqTime, b)
			if err != nil {
				return 0, err
			}
			crypto := time.Since(t0)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL, bytes.NewReader(b))
			if err != nil {
				return 0, err
			}
			req.Header.Set("Content-Type", "application/json; charset=UTF-8")
			req.Header.Set("Client-Id", clientID)
			req.Header.Set("Request-Time", reqTime)
			req.Header.Set("Signature", sig)
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				return 0, err
			}
			t1 := time.Now()
			if _, err := antom.VerifyResponse(keys, http.MethodPost, path, clientID, resp.Header, raw); err != nil {
				return 0, err
			}
			crypto += time.Since(t1)
			return crypto, checkAnswer(resp.StatusCode, raw)
		}
	}
	ways := []struct {
		name string
		do   doFunc
	}{
		{"api_proxy", viaCaddy},
		{"api_direct", direct(keepAlive)},
		{"api_direct_newconn", direct(newConn)},
	}
	for _, w := range ways {
		closedLoop(ctx, 4, 2*time.Second, 300, w.do) // warm up
	}

	m := &measurer{o: o, c: c, up: env.sim, b: b, run: run, after: func(ph *phase) {
		if ph.Scenario != "api_proxy" {
			ph.CaddyUsReq = 0 // caddy is idle when the app calls the simulator directly
		}
	}}
	conc := min(o.conc, 16) // signing-bound: more in flight only queues
	sat := fmt.Sprintf("saturation c=%d", conc)
	for _, w := range ways {
		m.measure(w.name, sat, w.name == "api_proxy", func() phase { return closedLoop(ctx, conc, o.phase, 0, w.do) })
	}
	for _, r := range o.proxyRates {
		n := int(float64(r) * o.phase.Seconds())
		for _, w := range ways {
			m.measure(w.name, fmt.Sprintf("%d/s", r), w.name == "api_proxy", func() phase {
				return openLoop(ctx, float64(r), n, 5000, w.do)
			})
		}
	}
	return m.out, ctx.Err()
}

// checkAnswer accepts a 200 whose result is S (createPaymentSession succeeded).
func checkAnswer(status int, raw []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d %.200s", status, raw)
	}
	r, err := antom.ParseResult(raw)
	if err != nil {
		return err
	}
	if r.ResultStatus != "S" {
		return fmt.Errorf("result %s %s: %s", r.ResultStatus, r.ResultCode, r.ResultMessage)
	}
	return nil
}
