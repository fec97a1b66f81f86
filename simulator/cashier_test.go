package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// noRedirect is a browser that shows us the redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCashierPage(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	for _, c := range []struct {
		button, status, notifyCode, notifyStatus string
	}{
		{"pay", StatusSuccess, "SUCCESS", "S"},
		{"fail", StatusFail, "PROCESS_FAIL", "F"},
		{"cancel", StatusCancelled, "ORDER_IS_CLOSED", "F"},
	} {
		t.Run(c.button, func(t *testing.T) {
			reqID := "CASHIER_" + c.button
			m := h.expect("v1/payments/pay", cashierPay(reqID, "123456", rc.url()), "PAYMENT_IN_PROCESS", "U")
			normalURL := str(m, "normalUrl")

			code, page := get(t, normalURL)
			if code != http.StatusOK || !containsAll(page, "1234.56 USD", "ORDER_"+reqID, `id="pay"`, `id="fail"`, `id="cancel"`, `name="`+c.button+`"`) {
				t.Fatalf("cashier page (HTTP %d):\n%s", code, page)
			}

			// The button is a plain form POST; the buyer lands on paymentRedirectUrl.
			resp, err := noRedirect.PostForm(normalURL, url.Values{c.button: {c.button}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example/return?o="+reqID {
				t.Fatalf("after %s: HTTP %d to %q", c.button, resp.StatusCode, resp.Header.Get("Location"))
			}
			q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": reqID}, "SUCCESS", "S")
			if str(q, "paymentStatus") != c.status {
				t.Fatalf("after %s: %v", c.button, q)
			}
			waitFor(t, 5*time.Second, "PAYMENT_RESULT", func() bool {
				for _, n := range rc.ofType("PAYMENT_RESULT") {
					if strings.Contains(string(n.body), reqID) {
						return true
					}
				}
				return false
			})
			for _, n := range rc.ofType("PAYMENT_RESULT") {
				if !strings.Contains(string(n.body), `"`+reqID+`"`) {
					continue
				}
				res, _ := antom.ParseResult(n.body)
				if n.verified != nil || res.ResultCode != c.notifyCode || res.ResultStatus != c.notifyStatus {
					t.Fatalf("PAYMENT_RESULT %s (verify %v)", n.body, n.verified)
				}
			}

			// The page now shows the outcome and no buttons; pressing again changes nothing.
			_, page = get(t, normalURL)
			if strings.Contains(page, `id="pay"`) || !strings.Contains(page, c.status) {
				t.Fatalf("final page:\n%s", page)
			}
			other := map[string]string{"pay": "fail", "fail": "pay", "cancel": "pay"}[c.button]
			resp, err = noRedirect.PostForm(normalURL, url.Values{other: {other}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict {
				t.Fatalf("%s after %s: HTTP %d, want 409", other, c.button, resp.StatusCode)
			}
		})
	}
	if code, page := get(t, h.srv.URL+"/cashier/202401011940108000000000000000000"); code != http.StatusNotFound || !strings.Contains(page, "in memory") {
		t.Fatalf("unknown payment: HTTP %d\n%s", code, page)
	}
}

func TestControlEndpoints(t *testing.T) {
	h := newHarness(t, Config{})
	h.expect("v1/payments/pay", cashierPay("CTL_1", "1000", ""), "PAYMENT_IN_PROCESS", "U")

	post := func(path string) (int, map[string]any) {
		resp, err := http.Post(h.srv.URL+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, m := post("/simulator/payments/CTL_1/pay")
	if code != http.StatusOK || str(m, "paymentStatus") != StatusSuccess || str(m, "redirectUrl") != "https://shop.example/return?o=CTL_1" {
		t.Fatalf("pay: HTTP %d %v", code, m)
	}
	if code, _ = post("/simulator/payments/CTL_1/pay"); code != http.StatusOK {
		t.Fatalf("repeating pay: HTTP %d, want 200 (idempotent)", code)
	}
	if code, m = post("/simulator/payments/CTL_1/cancel"); code != http.StatusConflict || !strings.Contains(str(m, "error"), "SUCCESS") {
		t.Fatalf("cancel after pay: HTTP %d %v", code, m)
	}
	if code, _ = post("/simulator/payments/NOPE/pay"); code != http.StatusNotFound {
		t.Fatalf("unknown payment: HTTP %d", code)
	}
	if code, _ = post("/simulator/payments/CTL_1/teleport"); code != http.StatusNotFound {
		t.Fatalf("unknown action: HTTP %d", code)
	}

	code, body := get(t, h.srv.URL+"/simulator/payments/CTL_1")
	var p Payment
	if err := json.Unmarshal([]byte(body), &p); err != nil || code != 200 || p.Status != StatusSuccess || p.Amount.Value != "1000" {
		t.Fatalf("GET payment: HTTP %d %s", code, body)
	}
	code, body = get(t, h.srv.URL+"/simulator/payments")
	if code != 200 || !strings.Contains(body, `"CTL_1"`) {
		t.Fatalf("GET payments: HTTP %d %s", code, body)
	}

	code, body = get(t, h.srv.URL+"/simulator/public_key")
	if code != 200 || body != antom.EncodePublicKey(h.srv.PublicKey()) {
		t.Fatalf("public_key: HTTP %d %q", code, body)
	}
	if pub, err := antom.ParsePublicKey(body); err != nil || !pub.Equal(h.srv.PublicKey()) {
		t.Fatalf("public_key does not parse back: %v", err)
	}
	if code, body = get(t, h.srv.URL+"/simulator/"); code != 200 || !strings.Contains(body, "/simulator/notifications") {
		t.Fatalf("index: HTTP %d", code)
	}
}

func TestOwns(t *testing.T) {
	s, err := New(Config{Key: antomSimKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]bool{
		"/ams/api/v1/payments/pay": true, "/ams/sandbox/api/v1/payments/pay": true,
		"/cashier/1": true, "/simulator/public_key": true,
		"/": false, "/antom/notify": false, "/ams/apix": false,
	} {
		if s.Owns(path) != want {
			t.Errorf("Owns(%q) = %v", path, !want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for a, want := range map[Amount]string{
		{"USD", "1000"}: "10.00 USD", {"USD", "5"}: "0.05 USD", {"JPY", "500"}: "500 JPY", {"KWD", "1234"}: "1.234 KWD",
	} {
		if got := formatAmount(a); got != want {
			t.Errorf("formatAmount(%v) = %q, want %q", a, got, want)
		}
	}
}
