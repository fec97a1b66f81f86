package e2e

// antom_api hardening (issue 13), through the real caddy binary: the path Antom receives is
// rebuilt from a strictly validated group and API name, only trusted clients are answered, and
// card data under any name stays out of the debug log.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Path tricks that name an allowed API at the end but another (or something unparsable) on the
// way, in every encoding: each is refused with 404 API_NOT_FOUND, and the gateway never sees it.
// Clean paths still reach it, at exactly /ams/api/v1/<group>/<api>.
func TestAPIPathTricksNeverReachAntom(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	port := freePort(t)
	startCaddy(t, apiConfig(apiProfile("", apiClientID, gw.URL, ""),
		apiSite(port, "\t\tallow inquiryPayment payments/pay\n")), apiEnv(t))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	body := []byte(`{"paymentRequestId":"trick-1"}`)
	jsonType := []string{"Content-Type: application/json"}

	tricks := []string{
		"/antom/v1/refund?/inquiryPayment",
		"/antom/v1/refund%3F/inquiryPayment",
		"/antom/v1/refund%3f/inquiryPayment",
		"/antom/v1/../inquiryPayment",
		"/antom/v1/./inquiryPayment",
		"/antom/v1/%2E%2E/inquiryPayment",
		"/antom/v1/.%2e/inquiryPayment",
		"/antom/v1/..%5C..%5Cpayments%5Crefund?/inquiryPayment",
		"/antom/v1/..%5C..%5Cpayments%5Crefund%3F/inquiryPayment",
		`/antom/v1/..\..\payments\refund/inquiryPayment`,
		"/antom/v1/payments%2Frefund%3F/inquiryPayment",
		"/antom/v1/payments%252Frefund%253F/inquiryPayment",
		"/ams/api/v1/payments%2Frefund%3F/inquiryPayment",
		"/antom/v1/payments%2F..%2Frefund/inquiryPayment",
		"/antom/v1/payments/refund%2F..%2FinquiryPayment",
		"/antom/v1/payments/refund%23/inquiryPayment",
		"/antom/v1/payments;refund/inquiryPayment",
		"/antom/v1/payments/inquiryPayment?paymentId=1",
		"/antom/v1/payments/inquiryPayment?",
		"/antom/v1/payments/inquiryPayment/",
		"/antom/v1/payments//inquiryPayment",
		"/antom/v1//inquiryPayment",
		"/antom/v1/payments/inquiry%50ayment",
		"/antom/v1/payments/inquiryPayment%00",
		"/antom/v1/pay%20ments/inquiryPayment",
		"/antom/v1/1payments/inquiryPayment",
		"/antom/v2/payments/inquiryPayment",
		"/antom/V1/payments/inquiryPayment",
		"/antom/v1/refunds/payments/pay",
		"/ams/sandbox/api/../../ams/api/v1/payments/inquiryPayment",
		"/ams/api/%2e%2e/sandbox/api/v1/payments/inquiryPayment",
	}
	for _, target := range tricks {
		resp := apiRawPost(t, addr, target, jsonType, body)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(resp.Body), `"resultCode":"API_NOT_FOUND"`) {
			t.Errorf("%s: HTTP %d %s, want 404 API_NOT_FOUND", target, resp.StatusCode, resp.Body)
		}
	}
	if reqs := gw.Requests(); len(reqs) != 0 {
		for _, r := range reqs {
			t.Errorf("the gateway received %s %s", r.Method, r.RequestURI)
		}
		t.Fatalf("%d path tricks reached the gateway", len(reqs))
	}

	// The control: clean paths are forwarded, rebuilt from their parts, and signed over them.
	for target, want := range map[string]string{
		"/antom/v1/payments/inquiryPayment":   "/ams/api/v1/payments/inquiryPayment",
		"/ams/api/v1/payments/pay":            "/ams/api/v1/payments/pay",
		"/shop-1.2/antom_x/v1/payments/pay":   "/ams/api/v1/payments/pay",
		"/v1/refunds/inquiryPayment":          "/ams/api/v1/refunds/inquiryPayment", // allowed by name
		"/antom/v1/payments2/inquiryPayment2": "",                                   // well-formed but not allowed
	} {
		n := len(gw.Requests())
		resp := apiRawPost(t, addr, target, jsonType, body)
		if want == "" {
			apiWantProxyError(t, target, resp.StatusCode, resp.Header, resp.Body, http.StatusForbidden, "API_NOT_ALLOWED", "F")
			continue
		}
		if resp.StatusCode != http.StatusOK || len(gw.Requests()) != n+1 {
			t.Fatalf("%s: HTTP %d %s, gateway requests %d, want 200 and one", target, resp.StatusCode, resp.Body, len(gw.Requests())-n)
		}
		apiCheckSignedRequest(t, gw.Last(), want, apiClientID)
	}
}

// apiCallFrom POSTs a body to url from the given loopback source address.
func apiCallFrom(t testing.TB, source, url string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s from %s: %v", url, source, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer from %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, rb
}

// Which clients antom_api answers, judged by the TCP peer: by default every loopback address
// (127.0.0.0/8, ::1); with trusted_clients exactly the listed ones, so a list without
// 127.0.0.1 refuses 127.0.0.1. (That the default refuses private networks such as 10.0.0.0/8 is
// shown by TestAPIDefaultTrustsLoopbackOnly in handlers: a test here can only connect from
// loopback addresses.)
func TestAPITrustedClients(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	byDefault, narrow, other := freePort(t), freePort(t), freePort(t)
	startCaddy(t, apiConfig(apiProfile("", apiClientID, gw.URL, ""),
		apiSite(byDefault, ""),
		apiSite(narrow, "\t\ttrusted_clients 127.0.0.1/32 10.0.0.0/8\n"),
		apiSite(other, "\t\ttrusted_clients 127.0.0.2 192.168.0.0/16\n"),
	), apiEnv(t))
	url := func(port int) string {
		return fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/inquiryPayment", port)
	}
	body := []byte(`{"paymentRequestId":"client-1"}`)

	for _, c := range []struct {
		name, source string
		port         int
		allowed      bool
	}{
		{"default, 127.0.0.1", "127.0.0.1", byDefault, true},
		{"default, 127.0.0.2", "127.0.0.2", byDefault, true},
		{"127.0.0.1/32, from 127.0.0.1", "127.0.0.1", narrow, true},
		{"127.0.0.1/32, from 127.0.0.2", "127.0.0.2", narrow, false},
		{"127.0.0.2 only, from 127.0.0.1", "127.0.0.1", other, false},
		{"127.0.0.2 only, from 127.0.0.2", "127.0.0.2", other, true},
	} {
		n := len(gw.Requests())
		status, h, rb := apiCallFrom(t, c.source, url(c.port), body)
		if !c.allowed {
			r := apiWantProxyError(t, c.name, status, h, rb, http.StatusForbidden, "CLIENT_NOT_ALLOWED", "F")
			if !strings.Contains(r.ResultMessage, "trusted_clients") || !strings.Contains(r.ResultMessage, c.source) {
				t.Errorf("%s: the refusal %q does not name the client and trusted_clients", c.name, r.ResultMessage)
			}
			if len(gw.Requests()) != n {
				t.Errorf("%s: a refused client's call reached the gateway", c.name)
			}
			continue
		}
		if status != http.StatusOK || len(gw.Requests()) != n+1 {
			t.Errorf("%s: HTTP %d %s, gateway requests %d; want 200 and one", c.name, status, rb, len(gw.Requests())-n)
		}
	}
}

// Card data under names the old denylist did not know, inside payment-method and card objects
// and outside them, never reaches caddy's debug log; harmless fields next to it still do.
func TestAPICardFieldsUnderOtherNamesNotLogged(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	port := freePort(t)
	p := startCaddy(t, apiConfig(apiProfile("", apiClientID, gw.URL, "")+"\tdebug\n", apiSite(port, "")), apiEnv(t))

	// Each secret, as sent; card numbers also as bare digits (how a re-encoding could show them).
	secrets := map[string]string{
		"card_no":              "4111 1111 1111 1111",
		"CardNumber":           "5555-5555-5555-4444",
		"pan":                  "378282246310005",
		"cvc2":                 "9371",
		"expiry":               "11/39",
		"cardToken":            "ctok_ZX81pq77wv",
		"holder":               "Quirinus Testholder",
		"top-level pan":        "6011111111111117",
		"top-level cvc2":       "4826",
		"top-level cardToken":  "ctok_top_Q9mm3",
		"card in free text":    "4000 0566 5566 5556",
		"card in a vault card": "2223003122003222",
	}
	body := `{"productCode":"ONE_TIME_PAYMENT","paymentRequestId":"card-names-1",` +
		`"paymentAmount":{"currency":"USD","value":"1000"},` +
		`"order":{"orderDescription":"gift for card ` + secrets["card in free text"] + ` ending"},` +
		`"pan":` + secrets["top-level pan"] + `,"cvc2":"` + secrets["top-level cvc2"] + `","cardToken":"` + secrets["top-level cardToken"] + `",` +
		`"paymentMethod":{"paymentMethodType":"CARD","paymentMethodMetaData":{` +
		`"card_no":"` + secrets["card_no"] + `","CardNumber":"` + secrets["CardNumber"] + `","pan":"` + secrets["pan"] + `",` +
		`"cvc2":"` + secrets["cvc2"] + `","expiry":"` + secrets["expiry"] + `","cardToken":"` + secrets["cardToken"] + `",` +
		`"holder":{"name":"` + secrets["holder"] + `"},"cardBrand":"VISA"}},` +
		`"paymentMethodDetail":{"card":{"number":"` + secrets["card in a vault card"] + `"}}}`
	status, _, rb := apiCall(t, fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/pay", port), []byte(body))
	if status != http.StatusOK || len(gw.Requests()) != 1 {
		t.Fatalf("pay: HTTP %d %s", status, rb)
	}

	p.WaitLog("calling Antom", 10*time.Second)
	var line string
	for _, l := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(l, "calling Antom") {
			line = l
		}
	}
	if line == "" {
		t.Fatal("no debug line logs the body")
	}
	nonDigit := regexp.MustCompile(`\D`)
	for _, l := range strings.Split(p.Logs(), "\n") {
		digits := nonDigit.ReplaceAllString(l, "")
		for name, v := range secrets {
			// A short number (a CVC) counts only standing alone: "9371" is also in a timestamp
			// such as 1796068464.937171.
			alone := regexp.MustCompile(`(^|\D)` + regexp.QuoteMeta(v) + `(\D|$)`)
			if alone.MatchString(l) || (len(nonDigit.ReplaceAllString(v, "")) >= 13 && strings.Contains(digits, nonDigit.ReplaceAllString(v, ""))) {
				t.Errorf("%s (%s) in a log line: %s", name, v, l)
			}
		}
	}
	// The logged body keeps what is not card data, or this test proves nothing.
	for _, keep := range []string{"card-names-1", `paymentMethodType\":\"CARD`, `cardBrand\":\"VISA`, "REDACTED"} {
		if !strings.Contains(line, keep) {
			t.Errorf("the debug body lacks %q: %s", keep, line)
		}
	}
}
