package simulator

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// vectorsDir holds the golden vectors, testdata/antom-vectors at the repository root.
var vectorsDir = filepath.Join("..", "testdata", "antom-vectors")

const testClientID = "TEST_5X00000000000000"

func readVector(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("golden vector %s: %v", name, err)
	}
	return string(b)
}

func merchantKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := antom.ParsePrivateKey(readVector(t, "keys/merchant_private_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func antomSimKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := antom.ParsePrivateKey(readVector(t, "keys/antom_sim_private_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// harness is a simulator plus a merchant client that signs like the SDKs.
type harness struct {
	t      *testing.T
	srv    *Server
	client *antom.Client
}

// newHarness starts a simulator that knows the vectors' merchant key for testClientID (and
// for SANDBOX_ ids). cfg.Key defaults to the vectors' simulated Antom key.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	mk := merchantKey(t)
	if cfg.Key == nil {
		cfg.Key = antomSimKey(t)
	}
	if cfg.Merchants == nil {
		cfg.Merchants = []Merchant{{ClientID: testClientID, PublicKey: &mk.PublicKey}, {ClientID: "SANDBOX_5X00000000000000", PublicKey: &mk.PublicKey}}
	}
	srv := NewServer(cfg)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, client: &antom.Client{
		Gateway:   srv.URL,
		Signer:    antom.Signer{ClientID: testClientID, Key: mk},
		AntomKeys: antom.NewKeyring(srv.PublicKey()),
		HTTP:      &http.Client{Timeout: 10 * time.Second},
	}}
}

// call sends a signed request through antom.Client (which verifies the answer) and decodes it.
func (h *harness) call(api string, body any) (*antom.Response, map[string]any) {
	h.t.Helper()
	resp, err := h.client.Call(context.Background(), api, jsonBytes(h.t, body))
	if err != nil {
		h.t.Fatalf("%s: %v", api, err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		h.t.Fatalf("%s: answer is not JSON: %v", api, err)
	}
	return resp, m
}

// expect calls api and checks the result code and status.
func (h *harness) expect(api string, body any, code, status string) map[string]any {
	h.t.Helper()
	resp, m := h.call(api, body)
	if resp.Result.ResultCode != code || resp.Result.ResultStatus != status {
		h.t.Fatalf("%s: got %s/%s (%s), want %s/%s\n%s", api, resp.Result.ResultCode, resp.Result.ResultStatus, resp.Result.ResultMessage, code, status, resp.Body)
	}
	if !resp.Signed {
		h.t.Fatalf("%s: answer %s is not signed", api, code)
	}
	return m
}

func jsonBytes(t testing.TB, v any) []byte {
	t.Helper()
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func amount(value string) map[string]string {
	return map[string]string{"currency": "USD", "value": value}
}

// cashierPay is a cashier payment request.
func cashierPay(reqID, value, notifyURL string) map[string]any {
	return map[string]any{
		"productCode":        "CASHIER_PAYMENT",
		"paymentRequestId":   reqID,
		"paymentAmount":      amount(value),
		"paymentMethod":      map[string]string{"paymentMethodType": "ALIPAY_CN"},
		"paymentRedirectUrl": "https://shop.example/return?o=" + reqID,
		"paymentNotifyUrl":   notifyURL,
		"order":              map[string]any{"referenceOrderId": "ORDER_" + reqID, "orderDescription": "Café order"},
	}
}

// str digs a string out of a decoded answer: str(m, "result", "resultCode").
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// paid creates a cashier payment and has the buyer pay it; it returns the paymentId.
func (h *harness) paid(reqID, value, notifyURL string) string {
	h.t.Helper()
	m := h.expect("v1/payments/pay", cashierPay(reqID, value, notifyURL), "PAYMENT_IN_PROCESS", "U")
	if _, err := h.srv.Act(reqID, BuyerPay); err != nil {
		h.t.Fatal(err)
	}
	return str(m, "paymentId")
}

// receiver is a merchant notify endpoint that verifies every notification with the
// simulator's public key and answers with the next programmed reply.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	keys    *antom.Keyring
	mu      sync.Mutex
	got     []received
	replies []reply2 // one per request; the last one repeats
}

type reply2 struct {
	status int
	body   string
}

type received struct {
	at       time.Time
	path     string
	body     []byte
	verified error
	header   http.Header
}

var ackReply = reply2{200, string(antom.AckBody)}

func newReceiver(t *testing.T, pub *rsa.PublicKey, replies ...reply2) *receiver {
	t.Helper()
	if len(replies) == 0 {
		replies = []reply2{ackReply}
	}
	rc := &receiver{t: t, keys: antom.NewKeyring(pub), replies: replies}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// Verify as a merchant would: path and query as Antom addressed them, headers verbatim.
		_, verr := rc.keys.Verify(r.Method, r.URL.RequestURI(), r.Header.Get("client-id"), r.Header.Get("request-time"), body, r.Header.Get("signature"))
		rc.mu.Lock()
		i := len(rc.got)
		rc.got = append(rc.got, received{at: time.Now(), path: r.URL.RequestURI(), body: body, verified: verr, header: r.Header.Clone()})
		rp := rc.replies[min(i, len(rc.replies)-1)]
		rc.mu.Unlock()
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, rp.body)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// url is the notify URL, with a query string to prove it is part of the signed path.
func (rc *receiver) url() string { return rc.srv.URL + "/antom/notify?shop=main" }

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls until cond holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notificationsOf returns the receiver's requests whose body has the given type field value.
func (rc *receiver) ofType(typ string) []received {
	var out []received
	for _, r := range rc.requests() {
		if bytes.Contains(r.body, []byte(`"`+typ+`"`)) {
			out = append(out, r)
		}
	}
	return out
}

// rawPost sends body to path with the given headers, unsigned by us.
func rawPost(t *testing.T, base, path string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 1, 1, 8, 0, 0, 0, time.FixedZone("", 8*3600))}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
