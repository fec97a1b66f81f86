package delivery

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// antomApp answers every delivery with body (HTTP 200) and keeps the last request's headers.
func antomApp(t *testing.T, body string) (*httptest.Server, *http.Header) {
	t.Helper()
	var got http.Header
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(app.Close)
	return app, &got
}

// Only Antom's success ack is a delivery; any other 200 says why, with the app's result.
func TestAntomFormatNeedsTheAck(t *testing.T) {
	key := testKey(t)
	for _, c := range []struct {
		answer string
		ok     bool
		want   string
	}{
		{string(antom.AckBody), true, ""},
		{`{"result":{"resultStatus":"S"}}`, true, ""},
		{`{"result":{"resultCode":"SIGN_ERROR","resultStatus":"F","resultMessage":"bad sign"}}`, false,
			`app refused the notification: resultStatus "F", resultCode "SIGN_ERROR", resultMessage "bad sign"`},
		{"OK", false, "app answered 2xx without Antom's ack (result.resultStatus S): OK"},
		{"", false, "app answered 2xx without Antom's ack"},
	} {
		app, _ := antomApp(t, c.answer)
		route := Route{URL: app.URL + "/notify", Format: FormatAntom, AntomSigner: &antom.Signer{ClientID: "C", KeyVersion: "1", Key: key}}
		a := (&Forwarder{}).Deliver(context.Background(), route, testEvent("ack"))
		if a.OK != c.ok || !strings.Contains(a.Err, c.want) || a.Status != http.StatusOK {
			t.Errorf("answer %q: OK %v, status %d, Err %q; want OK %v, 200, an Err with %q", c.answer, a.OK, a.Status, a.Err, c.ok, c.want)
		}
	}
}

// Pass-through sends Antom's headers verbatim; an event without them, or signed over another
// path, is not sent at all, with the reason and the fix.
func TestAntomFormatPassThroughHeaders(t *testing.T) {
	app, got := antomApp(t, string(antom.AckBody))
	route := Route{URL: app.URL + "/antom/notify?shop=1", Format: FormatAntom}
	ev := testEvent("pt")
	ev.Signed = &outbox.AntomSignature{ClientID: "C", RequestTime: "2024-01-01T00:00:00+08:00",
		Signature: "algorithm=RSA256, keyVersion=1, signature=abc%2b", Path: "/antom/notify?shop=1"}
	if a := (&Forwarder{}).Deliver(context.Background(), route, ev); !a.OK {
		t.Fatalf("delivery failed: %s", a.Err)
	}
	for k, v := range map[string]string{"client-id": "C", "request-time": ev.Signed.RequestTime, "signature": ev.Signed.Signature,
		"Content-Type": "application/json; charset=UTF-8", "webhook-id": ev.ID} {
		if (*got).Get(k) != v {
			t.Errorf("%s = %q, want %q", k, (*got).Get(k), v)
		}
	}
	if (*got).Get("webhook-signature") != "" {
		t.Errorf("webhook-signature without secrets: %q", (*got).Get("webhook-signature"))
	}

	ev.Signed.Path = "/notify"
	if a := (&Forwarder{}).Deliver(context.Background(), route, ev); a.OK || !strings.Contains(a.Err, "over the path /notify, not the forward URL's path /antom/notify?shop=1") {
		t.Errorf("signed over another path: OK %v, Err %q", a.OK, a.Err)
	}
	ev.Signed = nil
	if a := (&Forwarder{}).Deliver(context.Background(), route, ev); a.OK || a.Status != 0 || !strings.Contains(a.Err, "forward_key") {
		t.Errorf("no signature: OK %v, status %d, Err %q; want no request and a hint at forward_key", a.OK, a.Status, a.Err)
	}
}

// A route's forward key never prints, in JSON or with fmt.
func TestRouteKeyNeverPrints(t *testing.T) {
	key := testKey(t)
	r := Route{ID: "rt_x", URL: "http://127.0.0.1/", Format: FormatAntom, AntomSigner: &antom.Signer{ClientID: "C", Key: key}}
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	d := key.D.String()[:30]
	for _, o := range []string{string(j), fmt.Sprintf("%v %+v", r, r), fmt.Sprintf("%v", &r)} {
		if strings.Contains(o, d) || strings.Contains(o, antom.EncodePrivateKey(key)[:60]) {
			t.Errorf("the forward key leaks: %s", o)
		}
	}
}

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
