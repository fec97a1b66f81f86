package e2e

// End-to-end tests of antom_api, the signing proxy (issue 4), through the real caddy binary:
//
//   - against an in-process fake gateway (apiGateway) that records every request exactly as it
//     arrived and answers whatever a case needs (tampered, unsigned, half-signed, slow, ...);
//   - against the real antom_simulator handler in the same caddy, for the full payment flow and
//     the simulator's magic amounts.
//
// Signatures are checked here with crypto/rsa directly (apiVerifySignature), not with the
// module's antom package, so a bug there cannot hide a bug in what goes over the wire.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

const (
	apiClientID        = "TEST_5X00000000000000"
	apiSandboxClientID = "SANDBOX_5X00000000000000"
	apiNotifyURL       = "https://shop.example/antom/notify"
	apiJSON            = "application/json; charset=UTF-8"
)

// apiEnv is the environment the test Caddyfiles read their keys from.
func apiEnv(t testing.TB) map[string]string {
	return map[string]string{
		"MERCHANT_KEY":        merchantPrivateKey(t),
		"ANTOM_PUBLIC_KEY":    antomSimPublicKey(t),
		"SIM_KEY":             strings.TrimSpace(string(readVector(t, "keys/antom_sim_private_pkcs8.b64"))),
		"MERCHANT_PUBLIC_KEY": merchantPublicKey(t),
		"AGENT_TOKEN":         "AGENT_TOKEN_e2e_0001",
	}
}

// apiProfile is an `antom` global option block for one merchant profile ("" = default).
func apiProfile(name, clientID, gateway, extra string) string {
	return fmt.Sprintf(`	antom %s {
		client_id        %s
		private_key      {env.MERCHANT_KEY}
		antom_public_key {env.ANTOM_PUBLIC_KEY}
		gateway          %s
%s	}
`, name, clientID, gateway, extra)
}

// apiSite is an http:// site on 127.0.0.1:port with one antom_api handler.
func apiSite(port int, options string) string {
	return fmt.Sprintf("http://127.0.0.1:%d {\n\tantom_api {\n%s\t}\n}\n", port, options)
}

// apiSimSite is a site serving the antom_simulator with the golden keys.
func apiSimSite(port int) string {
	return fmt.Sprintf(`http://127.0.0.1:%d {
	antom_simulator {
		private_key         {env.SIM_KEY}
		merchant_public_key {env.MERCHANT_PUBLIC_KEY}
	}
}
`, port)
}

// apiConfig assembles a Caddyfile from global-option lines (profiles, debug) and sites.
func apiConfig(globals string, sites ...string) string {
	return "{\n\tskip_install_trust\n" + globals + "}\n\n" + strings.Join(sites, "\n")
}

// ---- signatures, checked independently of the antom package ----

// apiParsePublicKey parses a one-line base64 SPKI key (the dashboard format).
func apiParsePublicKey(t testing.TB, b64 string) *rsa.PublicKey {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	return k.(*rsa.PublicKey)
}

// apiVerifySignature checks a Signature header value (algorithm=RSA256,keyVersion=n,signature=
// <percent-encoded base64>) over "METHOD PATH\nCLIENT.TIME.BODY", as the protocol notes §1 and
// the official SDKs do.
func apiVerifySignature(pub *rsa.PublicKey, method, path, clientID, timestamp string, body []byte, header string) error {
	i := strings.LastIndex(header, "signature=")
	if i < 0 {
		return fmt.Errorf("no signature= in %q", header)
	}
	b64, err := url.PathUnescape(strings.TrimSpace(header[i+len("signature="):])) // percent-decoding only
	if err != nil {
		return fmt.Errorf("percent-decoding the signature: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("base64-decoding the signature: %v", err)
	}
	sum := sha256.Sum256([]byte(method + " " + path + "\n" + clientID + "." + timestamp + "." + string(body)))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// apiSign signs like Antom (or a merchant) and returns the Signature header value.
func apiSign(t testing.TB, key *rsa.PrivateKey, keyVersion, method, path, clientID, timestamp string, body []byte) string {
	t.Helper()
	sum := sha256.Sum256([]byte(method + " " + path + "\n" + clientID + "." + timestamp + "." + string(body)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return "algorithm=RSA256,keyVersion=" + keyVersion + ",signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// ---- the app side ----

// apiSizedBody is a JSON object of exactly n bytes (n >= 23).
func apiSizedBody(n int) []byte {
	const head, tail = `{"paymentRequestId":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// apiResult decodes the result object of an answer, failing the test if there is none.
func apiResult(t testing.TB, body []byte) antom.Result {
	t.Helper()
	var env struct {
		Result *antom.Result `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Result == nil {
		t.Fatalf("answer is not a JSON object with a result (%v): %q", err, body)
	}
	return *env.Result
}

// apiField returns a top-level string field of a JSON answer.
func apiField(t testing.TB, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %q", body)
	}
	s, _ := m[name].(string)
	return s
}

// apiCall POSTs a body to an antom_api URL as a plain app would.
func apiCall(t testing.TB, rawURL string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	return httpDo(t, http.MethodPost, rawURL, http.Header{"Content-Type": {"application/json"}}, body)
}

// apiWantProxyError checks a proxy-made answer: status, Antom result shape with the code and
// status, JSON content type, and none of Antom's signature headers.
func apiWantProxyError(t testing.TB, what string, status int, h http.Header, body []byte, wantStatus int, wantCode, wantResultStatus string) antom.Result {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: HTTP %d, want %d; body %s", what, status, wantStatus, body)
	}
	r := apiResult(t, body)
	if r.ResultStatus != wantResultStatus || (wantCode != "" && r.ResultCode != wantCode) || r.ResultMessage == "" {
		t.Fatalf("%s: result %+v, want %s %s with a message", what, r, wantCode, wantResultStatus)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	for _, name := range []string{"Signature", "Response-Time"} {
		if v := h.Get(name); v != "" {
			t.Errorf("%s: a proxy-made error carries %s %q; only Antom's verified answers may", what, name, v)
		}
	}
	return r
}

// ---- the fake gateway ----

// apiGatewayRequest is one request the fake gateway received, as it arrived.
type apiGatewayRequest struct {
	Method     string
	RequestURI string
	Path       string
	Header     http.Header
	Body       []byte
}

// apiAnswer is what the fake gateway sends back.
type apiAnswer struct {
	Status int
	Header map[string]string // written with the names exactly as given (lower case like Antom)
	Body   []byte
	Hang   bool // never answer (until the client goes away or the test ends)
}

// apiGateway is an in-process stand-in for Antom's gateway on 127.0.0.1 that records every
// request and counts the TCP connections opened to it.
type apiGateway struct {
	t      testing.TB
	URL    string
	srv    *httptest.Server
	quit   chan struct{}
	conns  atomic.Int64
	answer func(r apiGatewayRequest) apiAnswer

	mu   sync.Mutex
	reqs []apiGatewayRequest
}

// newAPIGateway starts a fake gateway; answer decides each reply (nil: apiSignedAnswer of a
// SUCCESS body). It is closed when the test ends, after the caddy started later.
func newAPIGateway(t testing.TB, answer func(r apiGatewayRequest) apiAnswer) *apiGateway {
	t.Helper()
	g := &apiGateway{t: t, quit: make(chan struct{}), answer: answer}
	if g.answer == nil {
		g.answer = func(r apiGatewayRequest) apiAnswer {
			return apiSignedAnswer(t, r, []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"SUCCESS"}`))
		}
	}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			g.conns.Add(1)
		}
	}
	g.srv.Start()
	g.URL = g.srv.URL
	t.Cleanup(func() {
		close(g.quit)
		g.srv.Close()
	})
	return g
}

func (g *apiGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := apiGatewayRequest{Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	g.mu.Unlock()
	a := g.answer(req)
	if a.Hang {
		select {
		case <-r.Context().Done():
		case <-g.quit:
		case <-time.After(5 * time.Minute):
		}
		return
	}
	for k, v := range a.Header {
		w.Header()[k] = []string{v}
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// Requests returns what the gateway received so far.
func (g *apiGateway) Requests() []apiGatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]apiGatewayRequest(nil), g.reqs...)
}

// Last returns the last request, failing the test if there was none.
func (g *apiGateway) Last() apiGatewayRequest {
	g.t.Helper()
	reqs := g.Requests()
	if len(reqs) == 0 {
		g.t.Fatalf("the fake gateway received nothing")
	}
	return reqs[len(reqs)-1]
}

// apiResponseTime is the response-time the fake gateway sends: ISO-8601 with an offset, to be
// passed on verbatim.
const apiResponseTime = "2024-01-01T00:01:11-08:00"

// apiSignedAnswer is a 200 answer signed with the golden Antom (antom_sim) key over the path
// the request used and its client id, with the gateway's lower-case header names.
func apiSignedAnswer(t testing.TB, r apiGatewayRequest, body []byte) apiAnswer {
	cid := r.Header.Get("Client-Id")
	return apiAnswer{
		Header: map[string]string{
			"Content-Type":  apiJSON,
			"client-id":     cid,
			"response-time": apiResponseTime,
			"signature":     apiSign(t, antomSigner(t), "1", "POST", r.Path, cid, apiResponseTime, body),
		},
		Body: body,
	}
}

// apiCheckSignedRequest checks a request as Antom would: headers, Request-Time in ms, and a
// signature that verifies with the merchant public key over the path actually requested, the
// client id, the Request-Time sent and the exact body bytes received.
func apiCheckSignedRequest(t testing.TB, req apiGatewayRequest, wantPath, wantClientID string) {
	t.Helper()
	if req.Method != http.MethodPost || req.RequestURI != wantPath {
		t.Errorf("gateway got %s %s, want POST %s", req.Method, req.RequestURI, wantPath)
	}
	if ct := req.Header.Get("Content-Type"); ct != apiJSON {
		t.Errorf("Content-Type %q, want %q", ct, apiJSON)
	}
	if cid := req.Header.Get("Client-Id"); cid != wantClientID {
		t.Errorf("Client-Id %q, want %q", cid, wantClientID)
	}
	rt := req.Header.Get("Request-Time")
	ms, err := strconv.ParseInt(rt, 10, 64)
	if err != nil || len(rt) != 13 {
		t.Errorf("Request-Time %q is not milliseconds since the epoch", rt)
	} else if d := time.Since(time.UnixMilli(ms)); d < -24*time.Hour || d > 24*time.Hour {
		t.Errorf("Request-Time %q is %s away from now: not milliseconds?", rt, d)
	}
	sig := req.Header.Get("Signature")
	if !strings.HasPrefix(sig, "algorithm=RSA256,keyVersion=1,signature=") {
		t.Errorf("Signature %q does not have the form algorithm=RSA256,keyVersion=1,signature=...", sig)
	}
	if err := apiVerifySignature(apiParsePublicKey(t, merchantPublicKey(t)), "POST", req.Path, wantClientID, rt, req.Body, sig); err != nil {
		t.Errorf("the request signature does not verify with the merchant public key over POST %s: %v", req.Path, err)
	}
	if len(req.Header.Values("Signature")) != 1 || len(req.Header.Values("Client-Id")) != 1 || len(req.Header.Values("Request-Time")) != 1 {
		t.Errorf("signature headers repeated: %v", req.Header)
	}
}

// ---- tests against the fake gateway ----

// antom_api signs production and sandbox calls with the merchant key over the path it requests,
// sends Agent-Token only when configured, fills notify URLs only when absent (every other byte
// as the app sent it), and hands Antom's answer back byte for byte with its signature headers.
// Requests it refuses (API not allowed, not JSON, too big, wrong method) never reach the gateway.
func TestAPISignsRequests(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	prod, sandbox, agent, small := freePort(t), freePort(t), freePort(t), freePort(t)
	conf := apiConfig(
		apiProfile("", apiClientID, gw.URL, "")+
			apiProfile("sandbox", apiSandboxClientID, gw.URL, "")+
			apiProfile("agent", apiClientID, gw.URL, "\t\tagent_token      {env.AGENT_TOKEN}\n"),
		apiSite(prod, "\t\tnotify_url "+apiNotifyURL+"\n"),
		apiSite(sandbox, "\t\tprofile sandbox\n"),
		apiSite(agent, "\t\tprofile agent\n"),
		apiSite(small, "\t\tmax_body 4KiB\n"),
	)
	startCaddy(t, conf, apiEnv(t))
	base := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

	// Each call: what the app posts, where, and what the gateway must see.
	calls := []struct {
		name, url, path, clientID string
		body, wantBody            []byte
	}{
		{"production short path", base(prod) + "/antom/v1/payments/inquiryPayment", "/ams/api/v1/payments/inquiryPayment", apiClientID,
			[]byte(`{"paymentRequestId":"e2e-1"}`), nil},
		{"production SDK path", base(prod) + "/ams/api/v1/payments/inquiryPayment", "/ams/api/v1/payments/inquiryPayment", apiClientID,
			[]byte(`{"paymentId":"2024"}`), nil},
		{"sandbox short path", base(sandbox) + "/v1/payments/inquiryPayment", "/ams/sandbox/api/v1/payments/inquiryPayment", apiSandboxClientID,
			[]byte(`{"paymentRequestId":"e2e-2"}`), nil},
		{"sandbox SDK path", base(sandbox) + "/ams/sandbox/api/v1/payments/cancel", "/ams/sandbox/api/v1/payments/cancel", apiSandboxClientID,
			[]byte(`{"paymentRequestId":"e2e-3"}`), nil},
		{"agent", base(agent) + "/antom/v1/payments/consult", "/ams/api/v1/payments/consult", apiClientID,
			[]byte(`{"productCode":"CASHIER_PAYMENT"}`), nil},
		// notify_url: inserted right after the opening brace when absent; everything else as sent
		// (spacing, key order, escapes, non-ASCII).
		{"notify url filled (pay)", base(prod) + "/antom/v1/payments/pay", "/ams/api/v1/payments/pay", apiClientID,
			[]byte(`{ "paymentRequestId" : "e2e-4",` + "\n\t" + `"order":{"orderDescription":"caf\u00e9 <b>&amp;</b> é"}, "paymentAmount":{"currency":"USD","value":"1000"} }`),
			[]byte(`{"paymentNotifyUrl":"` + apiNotifyURL + `", "paymentRequestId" : "e2e-4",` + "\n\t" + `"order":{"orderDescription":"caf\u00e9 <b>&amp;</b> é"}, "paymentAmount":{"currency":"USD","value":"1000"} }`)},
		{"notify url filled (createPaymentSession, empty object)", base(prod) + "/antom/v1/payments/createPaymentSession", "/ams/api/v1/payments/createPaymentSession", apiClientID,
			[]byte(`{}`), []byte(`{"paymentNotifyUrl":"` + apiNotifyURL + `"}`)},
		{"notify url filled (refund)", base(prod) + "/antom/v1/payments/refund", "/ams/api/v1/payments/refund", apiClientID,
			[]byte(`{"refundRequestId":"r-1","paymentId":"p-1","refundAmount":{"currency":"USD","value":"100"}}`),
			[]byte(`{"refundNotifyUrl":"` + apiNotifyURL + `","refundRequestId":"r-1","paymentId":"p-1","refundAmount":{"currency":"USD","value":"100"}}`)},
		{"notify url present", base(prod) + "/antom/v1/payments/pay", "/ams/api/v1/payments/pay", apiClientID,
			[]byte(`{"paymentRequestId":"e2e-5","paymentNotifyUrl":"https://other.example/n?a=1&b=2"}`), nil},
		{"notify url present but null", base(prod) + "/antom/v1/payments/pay", "/ams/api/v1/payments/pay", apiClientID,
			[]byte(`{"paymentRequestId":"e2e-6","paymentNotifyUrl":null}`), nil},
		{"no notify url field for inquiries", base(prod) + "/antom/v1/payments/inquiryRefund", "/ams/api/v1/payments/inquiryRefund", apiClientID,
			[]byte(`{"refundRequestId":"r-1"}`), nil},
		{"max_body: a body of exactly the limit", base(small) + "/antom/v1/payments/inquiryPayment", "/ams/api/v1/payments/inquiryPayment", apiClientID,
			apiSizedBody(4096), nil},
	}
	for _, c := range calls {
		n := len(gw.Requests())
		// The app's own headers, whatever they are, are not forwarded.
		h := http.Header{"Content-Type": {"application/json"}, "X-App-Secret": {"do-not-forward"}, "Authorization": {"Bearer app-token"}}
		status, rh, rb := httpDo(t, http.MethodPost, c.url, h, c.body)
		reqs := gw.Requests()
		if len(reqs) != n+1 {
			t.Fatalf("%s: the gateway got %d requests, want 1 (answer HTTP %d %s)", c.name, len(reqs)-n, status, rb)
		}
		req := reqs[n]
		apiCheckSignedRequest(t, req, c.path, c.clientID)
		want := c.wantBody
		if want == nil {
			want = c.body
		}
		if !bytes.Equal(req.Body, want) {
			t.Errorf("%s: the gateway got body\n%s\nwant\n%s", c.name, req.Body, want)
		}
		if tok := req.Header.Values("Agent-Token"); c.name == "agent" {
			if len(tok) != 1 || tok[0] != "AGENT_TOKEN_e2e_0001" {
				t.Errorf("%s: Agent-Token %q, want the configured one", c.name, tok)
			}
		} else if len(tok) != 0 {
			t.Errorf("%s: Agent-Token %q sent without agent_token", c.name, tok)
		}
		for _, name := range []string{"X-App-Secret", "Authorization"} {
			if v := req.Header.Get(name); v != "" {
				t.Errorf("%s: the app's %s header reached the gateway: %q", c.name, name, v)
			}
		}

		// The app gets Antom's answer byte for byte, with Antom's headers.
		wantAnswer := apiSignedAnswer(t, req, []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"SUCCESS"}`))
		if status != http.StatusOK || !bytes.Equal(rb, wantAnswer.Body) {
			t.Errorf("%s: app got HTTP %d %s, want 200 and the gateway's bytes", c.name, status, rb)
		}
		for _, name := range []string{"signature", "response-time", "client-id", "Content-Type"} {
			if got := rh.Get(name); got != wantAnswer.Header[name] {
				t.Errorf("%s: app got %s %q, want Antom's %q", c.name, name, got, wantAnswer.Header[name])
			}
		}
		if err := apiVerifySignature(apiParsePublicKey(t, antomSimPublicKey(t)), "POST", c.path, rh.Get("client-id"), rh.Get("response-time"), rb, rh.Get("signature")); err != nil {
			t.Errorf("%s: Antom's signature no longer verifies at the app: %v", c.name, err)
		}
	}

	// Refusals: answered by Caddy, never sent to the gateway.
	before := len(gw.Requests())
	refusals := []struct {
		name, method, url string
		body              []byte
		status            int
		code              string
	}{
		{"API not in the allow list", "POST", base(prod) + "/antom/v1/subscriptions/create", []byte(`{"subscriptionRequestId":"s"}`), 403, "API_NOT_ALLOWED"},
		{"API not in the allow list (SDK path)", "POST", base(prod) + "/ams/api/v1/authorizations/applyToken", []byte(`{}`), 403, "API_NOT_ALLOWED"},
		{"not JSON", "POST", base(prod) + "/antom/v1/payments/pay", []byte(`paymentRequestId=1&amount=10`), 400, "INVALID_JSON"},
		{"truncated JSON", "POST", base(prod) + "/antom/v1/payments/pay", []byte(`{"paymentRequestId":"e2e`), 400, "INVALID_JSON"},
		{"JSON array", "POST", base(prod) + "/antom/v1/payments/inquiryPayment", []byte(`[{"paymentRequestId":"e2e"}]`), 400, "INVALID_JSON"},
		{"JSON null", "POST", base(prod) + "/antom/v1/payments/inquiryPayment", []byte(`null`), 400, "INVALID_JSON"},
		{"empty body", "POST", base(prod) + "/antom/v1/payments/inquiryPayment", nil, 400, "INVALID_JSON"},
		{"too big", "POST", base(small) + "/antom/v1/payments/inquiryPayment", []byte(`{"paymentRequestId":"` + strings.Repeat("x", 16<<10) + `"}`), 413, "BODY_TOO_LARGE"},
		{"one byte too big", "POST", base(small) + "/antom/v1/payments/inquiryPayment", apiSizedBody(4097), 413, "BODY_TOO_LARGE"},
		{"GET", "GET", base(prod) + "/antom/v1/payments/inquiryPayment", nil, 405, "METHOD_NOT_ALLOWED"},
		{"not an API path", "POST", base(prod) + "/antom/payments", []byte(`{}`), 404, "API_NOT_FOUND"},
	}
	for _, c := range refusals {
		status, h, body := httpDo(t, c.method, c.url, http.Header{"Content-Type": {"application/json"}}, c.body)
		apiWantProxyError(t, c.name, status, h, body, c.status, c.code, "F")
	}
	if got := len(gw.Requests()); got != before {
		t.Fatalf("refused requests reached the gateway: %d requests", got-before)
	}
}

// Antom's answer is verified strictly (protocol notes §3): a tampered or wrongly signed answer,
// an unsigned success, an answer with only one of the signature headers, a non-200 or a
// redirect give 502 U; an unsigned F or U passes through unchanged; a signature written the way
// the docs print it (spaces after commas, lower-case hex) is accepted.
func TestAPIVerifiesResponses(t *testing.T) {
	t.Parallel()
	merchant, err := antom.ParsePrivateKey(merchantPrivateKey(t))
	if err != nil {
		t.Fatal(err)
	}
	success := []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"FAIL"}`)
	unsigned := func(body string) apiAnswer {
		return apiAnswer{Header: map[string]string{"Content-Type": apiJSON}, Body: []byte(body)}
	}
	cases := map[string]func(r apiGatewayRequest) apiAnswer{
		"ok": func(r apiGatewayRequest) apiAnswer { return apiSignedAnswer(t, r, success) },
		"tampered body": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Body = bytes.Replace(a.Body, []byte(`"FAIL"`), []byte(`"SUCCESS"`), 1)
			return a
		},
		"re-serialised body": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Body = bytes.Replace(a.Body, []byte(`,"paymentStatus"`), []byte(`, "paymentStatus"`), 1)
			return a
		},
		"signed with the merchant key": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Header["signature"] = apiSign(t, merchant, "1", "POST", r.Path, r.Header.Get("Client-Id"), apiResponseTime, success)
			return a
		},
		"signed over another path": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Header["signature"] = apiSign(t, antomSigner(t), "1", "POST", "/ams/sandbox/api/v1/payments/inquiryPayment", r.Header.Get("Client-Id"), apiResponseTime, success)
			return a
		},
		"signed over another response-time": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Header["response-time"] = "2024-01-01T00:01:12-08:00"
			return a
		},
		"unknown key version": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Header["signature"] = strings.Replace(a.Header["signature"], "keyVersion=1", "keyVersion=2", 1)
			return a
		},
		"garbage signature": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Header["signature"] = "algorithm=RSA256,keyVersion=1,signature=%%%"
			return a
		},
		"only signature": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			delete(a.Header, "response-time")
			return a
		},
		"only response-time": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			delete(a.Header, "signature")
			return a
		},
		"only signature on an F": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, []byte(`{"result":{"resultCode":"PROCESS_FAIL","resultStatus":"F","resultMessage":"no"}}`))
			delete(a.Header, "response-time")
			return a
		},
		"unsigned S":         func(apiGatewayRequest) apiAnswer { return unsigned(string(success)) },
		"unsigned no result": func(apiGatewayRequest) apiAnswer { return unsigned(`{"paymentStatus":"SUCCESS"}`) },
		"unsigned not JSON":  func(apiGatewayRequest) apiAnswer { return unsigned(`<html>busy</html>`) },
		"unsigned F": func(apiGatewayRequest) apiAnswer {
			return unsigned(`{"result":{"resultCode":"INVALID_SIGNATURE","resultStatus":"F","resultMessage":"The signature is invalid."}}`)
		},
		"unsigned U": func(apiGatewayRequest) apiAnswer {
			return unsigned(`{"result": {"resultStatus":"U","resultCode":"UNKNOWN_EXCEPTION","resultMessage":"later"}}`)
		},
		"HTTP 500 signed": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			a.Status = http.StatusInternalServerError
			return a
		},
		"HTTP 302": func(apiGatewayRequest) apiAnswer {
			return apiAnswer{Status: http.StatusFound, Header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}}
		},
		"docs-style signature header": func(r apiGatewayRequest) apiAnswer {
			a := apiSignedAnswer(t, r, success)
			sig := a.Header["signature"]
			i := strings.LastIndex(sig, "signature=") + len("signature=")
			lower := regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(sig[i:], strings.ToLower)
			a.Header["signature"] = "algorithm=RSA256, keyVersion=1, signature=" + lower
			return a
		},
	}
	gw := newAPIGateway(t, func(r apiGatewayRequest) apiAnswer {
		var req struct{ PaymentRequestID string }
		_ = json.Unmarshal(r.Body, &req)
		if f := cases[req.PaymentRequestID]; f != nil {
			return f(r)
		}
		return unsigned(`{"result":{"resultCode":"PARAM_ILLEGAL","resultStatus":"F","resultMessage":"unknown test case"}}`)
	})
	port := freePort(t)
	startCaddy(t, apiConfig(apiProfile("", apiClientID, gw.URL, ""), apiSite(port, "")), apiEnv(t))

	for name := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, _ := json.Marshal(map[string]string{"paymentRequestId": name})
			status, h, rb := apiCall(t, fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/inquiryPayment", port), body)
			switch name {
			case "ok", "docs-style signature header":
				if status != 200 || !bytes.Equal(rb, success) {
					t.Fatalf("HTTP %d %s, want 200 and the signed body", status, rb)
				}
				if h.Get("signature") == "" || h.Get("response-time") != apiResponseTime {
					t.Fatalf("Antom's signature headers missing: %v", h)
				}
				if name == "docs-style signature header" && !strings.HasPrefix(h.Get("signature"), "algorithm=RSA256, keyVersion=1, signature=") {
					t.Fatalf("signature header changed on the way: %q", h.Get("signature"))
				}
			case "unsigned F", "unsigned U":
				want := cases[name](apiGatewayRequest{}).Body
				if status != 200 || !bytes.Equal(rb, want) {
					t.Fatalf("HTTP %d %s, want 200 and %s unchanged", status, rb, want)
				}
				if h.Get("signature") != "" || h.Get("response-time") != "" {
					t.Fatalf("an unsigned answer came back with signature headers: %v", h)
				}
			default:
				r := apiWantProxyError(t, name, status, h, rb, http.StatusBadGateway, "UNKNOWN_EXCEPTION", "U")
				if bytes.Contains(rb, []byte(`"SUCCESS"`)) {
					t.Fatalf("the refused answer leaks Antom's body: %s (%+v)", rb, r)
				}
			}
		})
	}
}

// A gateway that does not answer within `timeout` gives 504 U (the payment state is unknown);
// a gateway that is down gives 504 U too, with a message saying the request was not sent.
func TestAPIGatewayTimeoutAndDown(t *testing.T) {
	t.Parallel()
	slow := newAPIGateway(t, func(apiGatewayRequest) apiAnswer { return apiAnswer{Hang: true} })
	down := "http://" + freeAddr(t) // nothing listens there
	slowPort, downPort := freePort(t), freePort(t)
	conf := apiConfig(
		apiProfile("slow", apiClientID, slow.URL, "")+apiProfile("down", apiClientID, down, ""),
		apiSite(slowPort, "\t\tprofile slow\n\t\ttimeout 2s\n"),
		apiSite(downPort, "\t\tprofile down\n"),
	)
	startCaddy(t, conf, apiEnv(t))

	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		status, h, body := apiCall(t, fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/pay", slowPort), []byte(`{"paymentRequestId":"slow-1"}`))
		apiWantProxyError(t, "slow gateway", status, h, body, http.StatusGatewayTimeout, "UNKNOWN_EXCEPTION", "U")
		if len(slow.Requests()) != 1 {
			t.Fatalf("the slow gateway got %d requests, want exactly 1 (no retry once sent)", len(slow.Requests()))
		}
	})
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		status, h, body := apiCall(t, fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/pay", downPort), []byte(`{"paymentRequestId":"down-1"}`))
		r := apiWantProxyError(t, "gateway down", status, h, body, http.StatusGatewayTimeout, "UNKNOWN_EXCEPTION", "U")
		if !strings.Contains(r.ResultMessage, "not sent") {
			t.Errorf("message %q should say the request was not sent", r.ResultMessage)
		}
	})
}

// Calls to the gateway reuse connections: 20 calls in a row open one connection, or a few, not 20.
func TestAPIConnectionReuse(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	port := freePort(t)
	startCaddy(t, apiConfig(apiProfile("", apiClientID, gw.URL, ""), apiSite(port, "")), apiEnv(t))
	for i := 0; i < 20; i++ {
		status, _, body := apiCall(t, fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/inquiryPayment", port), []byte(fmt.Sprintf(`{"paymentRequestId":"reuse-%d"}`, i)))
		if status != 200 {
			t.Fatalf("call %d: HTTP %d %s", i, status, body)
		}
	}
	if n := len(gw.Requests()); n != 20 {
		t.Fatalf("gateway got %d requests, want 20", n)
	}
	if c := gw.conns.Load(); c < 1 || c > 3 {
		t.Fatalf("20 calls opened %d connections to the gateway; want 1 (a few at most): keep-alive is not working", c)
	}
}

// ---- tests against the real simulator ----

// apiSimStack is one caddy serving the simulator and antom_api in front of it.
type apiSimStack struct {
	p        *caddyProc
	api, sim string // base URLs
	app      *fakeApp
}

// startAPISimStack starts caddy with the simulator on one port and antom_api (notify_url
// pointing at a fake app, plus apiOptions) on another. globals may add e.g. "\tdebug\n".
func startAPISimStack(t testing.TB, globals, apiOptions, siteExtra string) *apiSimStack {
	t.Helper()
	app := newFakeApp(t)
	app.SetBody(string(antom.AckBody))
	simPort, apiPort := freePort(t), freePort(t)
	sim := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	api := fmt.Sprintf("http://127.0.0.1:%d {\n%s\tantom_api {\n\t\tnotify_url %s/antom/notify\n%s\t}\n}\n", apiPort, siteExtra, app.URL, apiOptions)
	conf := apiConfig(globals+apiProfile("", apiClientID, sim, ""), apiSimSite(simPort), api)
	p := startCaddy(t, conf, apiEnv(t))
	return &apiSimStack{p: p, api: fmt.Sprintf("http://127.0.0.1:%d", apiPort), sim: sim, app: app}
}

// call posts to antom_api and, for a signed answer, checks Antom's signature at the app.
func (s *apiSimStack) call(t testing.TB, api string, body any) (int, http.Header, []byte) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	status, h, rb := apiCall(t, s.api+"/antom/v1/payments/"+api, raw)
	if sig := h.Get("signature"); sig != "" {
		if err := apiVerifySignature(apiParsePublicKey(t, antomSimPublicKey(t)), "POST", "/ams/api/v1/payments/"+api, h.Get("client-id"), h.Get("response-time"), rb, sig); err != nil {
			t.Fatalf("%s: the simulator's signature does not verify at the app: %v", api, err)
		}
	}
	return status, h, rb
}

// mustCall is call expecting HTTP 200 with a signed answer of the given result status.
func (s *apiSimStack) mustCall(t testing.TB, api string, body any, wantStatus string) []byte {
	t.Helper()
	status, h, rb := s.call(t, api, body)
	if status != 200 {
		t.Fatalf("%s: HTTP %d %s", api, status, rb)
	}
	if r := apiResult(t, rb); r.ResultStatus != wantStatus {
		t.Fatalf("%s: result %+v, want status %s; body %s", api, r, wantStatus, rb)
	}
	if h.Get("signature") == "" || h.Get("client-id") != apiClientID {
		t.Fatalf("%s: answer not signed by the simulator: %v", api, h)
	}
	return rb
}

func apiUnique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// The full cashier flow through antom_api against the simulator: createPaymentSession ->
// cashier page (normalUrl) -> the buyer pays -> inquiryPayment SUCCESS -> refund -> inquiryRefund,
// idempotent repeats, REPEAT_REQ_INCONSISTENT on a changed amount, and notify URLs that Caddy
// filled in (the notifications arrive at the fake app).
func TestAPISimulatorFlow(t *testing.T) {
	t.Parallel()
	s := startAPISimStack(t, "", "", "")
	ref := apiUnique("e2e-flow")
	session := map[string]any{
		"productCode":        "CASHIER_PAYMENT",
		"paymentRequestId":   ref,
		"paymentAmount":      map[string]string{"currency": "USD", "value": "1000"},
		"order":              map[string]any{"referenceOrderId": "order-" + ref, "orderDescription": "e2e flow"},
		"paymentRedirectUrl": "https://shop.example/return",
	}
	first := s.mustCall(t, "createPaymentSession", session, "S")
	normalURL, sessionID := apiField(t, first, "normalUrl"), apiField(t, first, "paymentSessionId")
	if normalURL == "" || sessionID == "" || apiField(t, first, "paymentSessionData") == "" {
		t.Fatalf("createPaymentSession answer lacks normalUrl/paymentSessionId/paymentSessionData: %s", first)
	}

	// Caddy filled the notify URL the app left out.
	status, _, pay := httpDo(t, "GET", s.sim+"/simulator/payments/"+ref, nil, nil)
	if status != 200 || apiField(t, pay, "paymentNotifyUrl") != s.app.URL+"/antom/notify" {
		t.Fatalf("simulator payment: HTTP %d %s; want paymentNotifyUrl %s/antom/notify", status, pay, s.app.URL)
	}

	// The buyer opens the cashier page and pays.
	if !strings.HasPrefix(normalURL, s.sim+"/cashier/") {
		t.Fatalf("normalUrl %q is not the simulator's cashier", normalURL)
	}
	status, _, page := httpDo(t, "GET", normalURL, nil, nil)
	if status != 200 || !bytes.Contains(page, []byte(`id="pay"`)) {
		t.Fatalf("cashier page: HTTP %d %.300s", status, page)
	}
	status, _, acted := httpDo(t, "POST", s.sim+"/simulator/payments/"+ref+"/pay", nil, nil)
	if status != 200 || apiField(t, acted, "paymentStatus") != "SUCCESS" {
		t.Fatalf("paying: HTTP %d %s", status, acted)
	}

	inquiry := s.mustCall(t, "inquiryPayment", map[string]string{"paymentRequestId": ref}, "S")
	paymentID := apiField(t, inquiry, "paymentId")
	if apiField(t, inquiry, "paymentStatus") != "SUCCESS" || paymentID == "" {
		t.Fatalf("inquiryPayment: %s", inquiry)
	}

	refund := map[string]any{
		"refundRequestId": ref + "-r1",
		"paymentId":       paymentID,
		"refundAmount":    map[string]string{"currency": "USD", "value": "400"},
	}
	refunded := s.mustCall(t, "refund", refund, "S")
	refundID := apiField(t, refunded, "refundId")
	if refundID == "" {
		t.Fatalf("refund: no refundId in %s", refunded)
	}
	inq := s.mustCall(t, "inquiryRefund", map[string]string{"refundRequestId": ref + "-r1"}, "S")
	if apiField(t, inq, "refundStatus") != "SUCCESS" || apiField(t, inq, "refundId") != refundID {
		t.Fatalf("inquiryRefund: %s", inq)
	}

	// Idempotent repeats: same request ids, same key fields -> the same objects.
	again := s.mustCall(t, "createPaymentSession", session, "S")
	if apiField(t, again, "paymentSessionId") != sessionID {
		t.Fatalf("repeated createPaymentSession: %s, want session %s", again, sessionID)
	}
	if id := apiField(t, s.mustCall(t, "refund", refund, "S"), "refundId"); id != refundID {
		t.Fatalf("repeated refund: refundId %q, want %q", id, refundID)
	}

	// Same ids, different amount: REPEAT_REQ_INCONSISTENT (F), signed, passed through.
	session["paymentAmount"] = map[string]string{"currency": "USD", "value": "2000"}
	if r := apiResult(t, s.mustCall(t, "createPaymentSession", session, "F")); r.ResultCode != "REPEAT_REQ_INCONSISTENT" {
		t.Fatalf("changed amount: %+v, want REPEAT_REQ_INCONSISTENT", r)
	}
	refund["refundAmount"] = map[string]string{"currency": "USD", "value": "500"}
	if r := apiResult(t, s.mustCall(t, "refund", refund, "F")); r.ResultCode != "REPEAT_REQ_INCONSISTENT" {
		t.Fatalf("changed refund amount: %+v, want REPEAT_REQ_INCONSISTENT", r)
	}

	// The notify URLs Caddy filled in work: PAYMENT_RESULT and REFUND_RESULT reach the app.
	waitFor(t, 60*time.Second, "PAYMENT_RESULT and REFUND_RESULT at the notify URL", func() bool {
		var pay, ref bool
		for _, r := range s.app.Requests() {
			pay = pay || (r.Path == "/antom/notify" && bytes.Contains(r.Body, []byte(`"PAYMENT_RESULT"`)))
			ref = ref || (r.Path == "/antom/notify" && bytes.Contains(r.Body, []byte(`"REFUND_RESULT"`)))
		}
		return pay && ref
	})
}

// The simulator's magic amounts through antom_api: F and U pass through signed, a slow answer
// becomes 504 U and the retry gets the real one, an unsigned U passes through unsigned, a broken
// signature becomes 502 U.
func TestAPISimulatorMagicAmounts(t *testing.T) {
	t.Parallel()
	s := startAPISimStack(t, "", "\t\ttimeout 3s\n", "")
	session := func(ref, value string) map[string]any {
		return map[string]any{
			"productCode":        "CASHIER_PAYMENT",
			"paymentRequestId":   ref,
			"paymentAmount":      map[string]string{"currency": "USD", "value": value},
			"paymentRedirectUrl": "https://shop.example/return",
		}
	}
	t.Run("4001 PROCESS_FAIL", func(t *testing.T) {
		t.Parallel()
		if r := apiResult(t, s.mustCall(t, "createPaymentSession", session(apiUnique("m1"), "14001"), "F")); r.ResultCode != "PROCESS_FAIL" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("4002 UNKNOWN_EXCEPTION then the real answer", func(t *testing.T) {
		t.Parallel()
		req := session(apiUnique("m2"), "4002")
		if r := apiResult(t, s.mustCall(t, "createPaymentSession", req, "U")); r.ResultCode != "UNKNOWN_EXCEPTION" {
			t.Fatalf("%+v", r)
		}
		s.mustCall(t, "createPaymentSession", req, "S")
	})
	t.Run("4003 slow: 504 U, then the retry answers", func(t *testing.T) {
		t.Parallel()
		req := session(apiUnique("m3"), "4003")
		status, h, body := s.call(t, "createPaymentSession", req)
		apiWantProxyError(t, "slow answer", status, h, body, http.StatusGatewayTimeout, "UNKNOWN_EXCEPTION", "U")
		s.mustCall(t, "createPaymentSession", req, "S")
	})
	t.Run("4004 unsigned U passes through", func(t *testing.T) {
		t.Parallel()
		status, h, body := s.call(t, "createPaymentSession", session(apiUnique("m4"), "4004"))
		if r := apiResult(t, body); status != 200 || r.ResultStatus != "U" || h.Get("signature") != "" {
			t.Fatalf("HTTP %d %+v signature %q; want 200, U, unsigned", status, r, h.Get("signature"))
		}
	})
	t.Run("4005 broken signature: 502 U", func(t *testing.T) {
		t.Parallel()
		status, h, body := s.call(t, "createPaymentSession", session(apiUnique("m5"), "4005"))
		apiWantProxyError(t, "broken signature", status, h, body, http.StatusBadGateway, "UNKNOWN_EXCEPTION", "U")
	})
}

// Card data never reaches caddy's logs, even at debug level with access logs on: not from a
// call Antom answers, a refused one, a bad JSON one, or one whose answer is refused.
func TestAPICardDataNotLogged(t *testing.T) {
	t.Parallel()
	s := startAPISimStack(t, "\tdebug\n", "\t\ttimeout 3s\n", "\tlog\n")
	const (
		cardNo = "4242424242424242"
		cvv    = "8163"
		holder = "Zebulon Quux-Testcard"
	)
	card := func(ref, value string) []byte {
		return []byte(`{"productCode":"CASHIER_PAYMENT","paymentRequestId":"` + ref + `",` +
			`"paymentAmount":{"currency":"USD","value":"` + value + `"},"paymentRedirectUrl":"https://shop.example/return",` +
			`"paymentFactor":{"isAuthorization":true},` + // card payments are authorisations
			`"paymentMethod":{"paymentMethodType":"CARD","paymentMethodMetaData":{"cardNo":"` + cardNo + `","cvv":"` + cvv + `",` +
			`"expiryYear":"39","expiryMonth":"07","cardholderName":{"fullName":"` + holder + `"},"CardHolderName":"` + holder + `"}}}`)
	}
	post := func(path string, body []byte) int {
		status, _, _ := apiCall(t, s.api+path, body)
		return status
	}
	if st := post("/antom/v1/payments/pay", card(apiUnique("card-ok"), "1000")); st != 200 {
		t.Fatalf("pay with card data: HTTP %d", st)
	}
	if st := post("/antom/v1/payments/pay", card(apiUnique("card-badsig"), "4005")); st != 502 {
		t.Fatalf("pay with a broken answer signature: HTTP %d", st)
	}
	if st := post("/antom/v1/payments/pay", card(apiUnique("card-unsigned"), "4004")); st != 200 {
		t.Fatalf("pay with an unsigned answer: HTTP %d", st)
	}
	if st := post("/antom/v1/payments/pay", card(apiUnique("card-slow"), "4003")); st != 504 {
		t.Fatalf("pay with a slow answer: HTTP %d", st)
	}
	if st := post("/antom/v1/vaults/createVaultingSession", card(apiUnique("card-403"), "1000")); st != 403 {
		t.Fatalf("disallowed API: HTTP %d", st)
	}
	truncated := card(apiUnique("card-400"), "1000")
	if st := post("/antom/v1/payments/pay", truncated[:len(truncated)-3]); st != 400 {
		t.Fatalf("truncated JSON: HTTP %d", st)
	}
	// The debug line that logs the (redacted) body must exist, or this test proves nothing.
	s.p.WaitLog("calling Antom", 10*time.Second)
	logs := s.p.Logs()
	if !strings.Contains(logs, "REDACTED") {
		t.Fatalf("no redacted body in the debug logs; the debug body log is gone and this test is vacuous")
	}
	cvvPattern := regexp.MustCompile(`(?i)cvv\W{1,8}` + cvv)
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, cardNo) || strings.Contains(line, holder) || cvvPattern.MatchString(line) {
			t.Errorf("card data in a log line: %s", line)
		}
	}
}

// ---- raw HTTP, for header names exactly as sent ----

// apiRawResponse is an HTTP/1.1 answer with its header lines as they were on the wire.
type apiRawResponse struct {
	*http.Response
	Body     []byte
	RawLines []string // header lines after the status line, verbatim
}

// RawHeader returns the value of the first header line whose name is exactly name
// (case-sensitive, as the Python and PHP SDKs look them up), and whether there was one.
func (r *apiRawResponse) RawHeader(name string) (string, bool) {
	for _, l := range r.RawLines {
		if k, v, ok := strings.Cut(l, ":"); ok && k == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// apiRawPost sends one HTTP/1.1 POST over a fresh connection with header lines written exactly
// as given (so names keep their case) and returns the answer with its raw header lines.
func apiRawPost(t testing.TB, addr, path string, headerLines []string, body []byte) *apiRawResponse {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return apiRawExchange(t, conn, path, addr, headerLines, body)
}

// apiRawExchange is apiRawPost over an open connection (e.g. TLS) with any request target
// (e.g. the absolute form "https://127.0.0.1/ams/api/...") and Host; it closes conn.
func apiRawExchange(t testing.TB, conn net.Conn, target, host string, headerLines []string, body []byte) *apiRawResponse {
	t.Helper()
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\n", target, host)
	for _, l := range headerLines {
		req.WriteString(l + "\r\n")
	}
	fmt.Fprintf(&req, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	br := bufio.NewReader(conn)
	var head bytes.Buffer
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer's header: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		l := strings.TrimRight(line, "\r\n")
		if l == "" {
			break
		}
		lines = append(lines, l)
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(&head, br)), nil)
	if err != nil {
		t.Fatalf("parsing the answer: %v", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	if len(lines) == 0 {
		t.Fatalf("empty answer header")
	}
	return &apiRawResponse{Response: resp, Body: rb, RawLines: lines[1:]}
}
