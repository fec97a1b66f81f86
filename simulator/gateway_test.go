package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/antom"
)

// vectorHeaders are the headers of a golden request vector, byte for byte.
func vectorHeaders(t *testing.T, dir, clientID string) map[string]string {
	return map[string]string{
		"Content-Type": "application/json; charset=UTF-8",
		"Client-Id":    clientID,
		"Request-Time": "1704067200000",
		"Signature":    readVector(t, dir+"/signature_header_value.txt"),
	}
}

// antomSimKeyring verifies with the vectors' simulated Antom public key, read from its own file
// (not derived from the private key the simulator holds).
func antomSimKeyring(t *testing.T) *antom.Keyring {
	pub, err := antom.ParsePublicKey(readVector(t, "keys/antom_sim_public_spki.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return antom.NewKeyring(pub)
}

// TestGoldenRequestVectors sends the vectors' requests byte-identical: the simulator must
// accept the merchant signatures, and its answers must verify with the vectors' Antom key.
func TestGoldenRequestVectors(t *testing.T) {
	h := newHarness(t, Config{})
	for _, v := range []struct{ dir, path, clientID string }{
		{"request", "/ams/api/v1/payments/createPaymentSession", "TEST_5X00000000000000"},
		{"request_sandbox", "/ams/sandbox/api/v1/payments/createPaymentSession", "SANDBOX_5X00000000000000"},
	} {
		t.Run(v.dir, func(t *testing.T) {
			body := []byte(readVector(t, v.dir+"/body.json"))
			resp, got := rawPost(t, h.srv.URL, v.path, vectorHeaders(t, v.dir, v.clientID), body)
			signed, err := antom.VerifyHTTPResponse(antomSimKeyring(t), http.MethodPost, v.path, v.clientID, resp.StatusCode, resp.Header, got)
			if err != nil || !signed {
				t.Fatalf("answer does not verify with antom_sim_public_spki (signed=%v): %v\n%s", signed, err, got)
			}
			var m map[string]any
			_ = json.Unmarshal(got, &m)
			if str(m, "result", "resultCode") != "SUCCESS" || str(m, "normalUrl") == "" || str(m, "paymentSessionData") == "" {
				t.Fatalf("want a SUCCESS session with normalUrl and paymentSessionData, got %s", got)
			}
			if resp.Header.Get("client-id") != v.clientID || resp.Header.Get("response-time") == "" {
				t.Fatalf("answer headers: %v", resp.Header)
			}
		})
	}

	t.Run("lower-case percent escapes", func(t *testing.T) {
		hdr := vectorHeaders(t, "request", testClientID)
		hdr["Signature"] = "algorithm=RSA256, keyVersion=1, signature=" + readVector(t, "request/signature.urlenc.lowerhex")
		body := []byte(readVector(t, "request/body.json"))
		resp, got := rawPost(t, h.srv.URL, "/ams/api/v1/payments/createPaymentSession", hdr, body)
		if resp.Header.Get("signature") == "" || !strings.Contains(string(got), `"SUCCESS"`) {
			t.Fatalf("the .NET-style signature header was refused: %s", got)
		}
	})
}

// TestRefusedRequests: every authentication failure is an UNSIGNED F answer with HTTP 200,
// as the real gateway gives.
func TestRefusedRequests(t *testing.T) {
	h := newHarness(t, Config{})
	body := readVector(t, "request/body.json")
	prod := "/ams/api/v1/payments/createPaymentSession"
	sandboxPath := "/ams/sandbox/api/v1/payments/createPaymentSession"
	with := func(k, v string) map[string]string {
		hdr := vectorHeaders(t, "request", testClientID)
		if v == "" {
			delete(hdr, k)
		} else {
			hdr[k] = v
		}
		return hdr
	}
	otherHdr := vectorHeaders(t, "request", "TEST_NOBODY") // a client id nobody configured

	cases := []struct {
		name, path, body string
		hdr              map[string]string
		code             string
	}{
		{"tampered body (one byte)", prod, strings.Replace(body, `"1000"`, `"1001"`, 1), with("", ""), "INVALID_SIGNATURE"},
		{"tampered time", prod, body, with("Request-Time", "1704067200001"), "INVALID_SIGNATURE"},
		{"missing signature", prod, body, with("Signature", ""), "INVALID_SIGNATURE"},
		{"garbage signature", prod, body, with("Signature", "algorithm=RSA256,keyVersion=1,signature=%%%"), "INVALID_SIGNATURE"},
		{"missing request time", prod, body, with("Request-Time", ""), "INVALID_SIGNATURE"},
		{"missing client id", prod, body, with("Client-Id", ""), "INVALID_CLIENT"},
		{"production id on sandbox path", sandboxPath, body, with("", ""), "INVALID_SIGNATURE"},
		{"sandbox id on production path", prod, body, vectorHeaders(t, "request_sandbox", "SANDBOX_5X00000000000000"), "INVALID_SIGNATURE"},
		{"no key for client id", prod, body, otherHdr, "KEY_NOT_FOUND"},
		{"unknown API", "/ams/api/v1/payments/teleport", body, with("", ""), "NO_INTERFACE_DEF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, got := rawPost(t, h.srv.URL, c.path, c.hdr, []byte(c.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d, want 200", resp.StatusCode)
			}
			if resp.Header.Get("signature") != "" || resp.Header.Get("response-time") != "" {
				t.Fatalf("refusal must be unsigned, got headers %v", resp.Header)
			}
			res, err := antom.ParseResult(got)
			if err != nil || res.ResultCode != c.code || res.ResultStatus != "F" || res.ResultMessage == "" {
				t.Fatalf("got %s (err %v), want %s/F with a message", got, err, c.code)
			}
		})
	}

	// The client sees the refusal as an unsigned F, never as a success.
	h.client.Signer.Key = antomSimKey(t) // the classic key mix-up
	resp, err := h.client.Call(t.Context(), "v1/payments/inquiryPayment", []byte(`{"paymentRequestId":"x"}`))
	if err != nil || resp.Signed || resp.Result.ResultCode != "INVALID_SIGNATURE" {
		t.Fatalf("key mix-up: resp=%+v err=%v", resp, err)
	}
}

func TestGatewayMethodAndParams(t *testing.T) {
	h := newHarness(t, Config{})
	resp, err := http.Get(h.srv.URL + "/ams/api/v1/payments/pay")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the gateway: HTTP %d", resp.StatusCode)
	}
	// Validation failures of a verified request are signed PARAM_ILLEGAL answers.
	for name, body := range map[string]any{
		"not json":          []byte(`{`),
		"no request id":     cashierPay("", "1000", ""),
		"amount as decimal": cashierPay("P1", "10.00", ""),
		"zero amount":       cashierPay("P1", "0", ""),
		"bad notify url":    cashierPay("P1", "1000", "notify.example/path"),
		"bad product":       map[string]any{"productCode": "TELEPORT", "paymentRequestId": "P1", "paymentAmount": amount("1")},
	} {
		t.Run(name, func(t *testing.T) {
			h.expect("v1/payments/pay", body, "PARAM_ILLEGAL", "F")
		})
	}
	// A PARAM_ILLEGAL request was not processed: the same id may be used once it is fixed.
	h.expect("v1/payments/pay", cashierPay("P1", "1000", ""), "PAYMENT_IN_PROCESS", "U")
}

func TestConsult(t *testing.T) {
	h := newHarness(t, Config{})
	m := h.expect("v1/payments/consult", map[string]any{"productCode": "CASHIER_PAYMENT", "paymentAmount": amount("1000")}, "SUCCESS", "S")
	opts, _ := m["paymentOptions"].([]any)
	if len(opts) == 0 {
		t.Fatalf("no paymentOptions: %v", m)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"merchant without key": {Merchants: []Merchant{{ClientID: "X"}}},
		"relative base url":    {BaseURL: "localhost:8080"},
		"negative retry scale": {RetryScale: -1},
		"key version w/ comma": {KeyVersion: "1,2"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
