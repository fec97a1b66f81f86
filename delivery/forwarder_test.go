package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

var testSecretRaw = []byte("an-example-secret-of-32-bytes!!!")

func testSecret(t testing.TB) Secret {
	t.Helper()
	s, err := ParseSecret("whsec_" + base64.StdEncoding.EncodeToString(testSecretRaw))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEvent(key string) *outbox.Event {
	return &outbox.Event{
		ID:             outbox.EventID("shop", key),
		Profile:        "shop",
		Route:          RouteID("shop", "http://app/antom"),
		Source:         outbox.SourceNotification,
		Kind:           "notifyType",
		Type:           "PAYMENT_RESULT",
		ResultStatus:   "S",
		RequestIDField: "paymentRequestId",
		RequestID:      "order-" + key,
		DedupKey:       key,
		Body:           []byte("{\"notifyType\":\"PAYMENT_RESULT\" , \"x\":\"\xff\"}\r\n"),
	}
}

func TestDeliverHeadersSignatureBody(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer app.Close()

	ev := testEvent("k1")
	ev.Attempts = 2
	route := Route{ID: ev.Route, Profile: "shop", URL: app.URL + "/antom?x=1", Secrets: []Secret{testSecret(t)}}
	a := (&Forwarder{UserAgent: "caddy-antom-test"}).Deliver(context.Background(), route, ev)
	if !a.OK || a.Status != 204 || a.Err != "" || a.Latency <= 0 {
		t.Fatalf("Attempt = %+v", a)
	}
	if got.Method != http.MethodPost || got.URL.RequestURI() != "/antom?x=1" {
		t.Fatalf("%s %s", got.Method, got.URL)
	}
	if !bytes.Equal(gotBody, ev.Body) {
		t.Fatalf("body changed: %q", gotBody)
	}
	want := map[string]string{
		"Content-Type":           "application/json",
		"Webhook-Id":             ev.ID,
		"Antom-Profile":          "shop",
		"Antom-Event-Kind":       "notifyType",
		"Antom-Event-Type":       "PAYMENT_RESULT",
		"Antom-Result-Status":    "S",
		"Antom-Request-Id":       "order-k1",
		"Antom-Request-Id-Field": "paymentRequestId",
		"Antom-Event-Source":     "notification",
		"Antom-Attempt":          "3",
		"User-Agent":             "caddy-antom-test",
	}
	for k, v := range want {
		if g := got.Header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	// Recompute the signature independently, as a receiving app would.
	ts := got.Header.Get("webhook-timestamp")
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(unix, 0)).Abs() > time.Minute {
		t.Fatalf("webhook-timestamp %q", ts)
	}
	m := hmac.New(sha256.New, testSecretRaw)
	m.Write([]byte(ev.ID + "." + ts + "."))
	m.Write(gotBody)
	if sig := got.Header.Get("webhook-signature"); sig != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatalf("webhook-signature %q does not verify", sig)
	}
}

func TestDeliverFailures(t *testing.T) {
	var mode atomic.Value
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "500":
			w.WriteHeader(500)
			io.WriteString(w, "<html>\n  <body>Fatal error: "+strings.Repeat("x", 500)+"</body>")
		case "429":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		case "503date":
			w.Header().Set("Retry-After", now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		case "500retry":
			w.Header().Set("Retry-After", "120") // ignored on 500
			w.WriteHeader(500)
		case "redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "slow":
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer app.Close()
	f := &Forwarder{Timeout: 100 * time.Millisecond}
	route := Route{URL: app.URL, Secrets: []Secret{testSecret(t)}}
	ev := testEvent("k")

	mode.Store("500")
	a := f.Deliver(context.Background(), route, ev)
	if a.OK || a.Status != 500 || !strings.HasPrefix(a.Err, "app answered 500: <html> <body>Fatal error: xxx") || len(a.Err) > 260 {
		t.Fatalf("500: %+v (len %d)", a, len(a.Err))
	}
	mode.Store("429")
	if a = f.Deliver(context.Background(), route, ev); a.Status != 429 || a.RetryAfter != 120*time.Second {
		t.Fatalf("429: %+v", a)
	}
	mode.Store("503date")
	if a = f.Deliver(context.Background(), route, ev); a.Status != 503 || a.RetryAfter < 80*time.Second || a.RetryAfter > 91*time.Second {
		t.Fatalf("503 with date: %+v", a)
	}
	mode.Store("500retry")
	if a = f.Deliver(context.Background(), route, ev); a.RetryAfter != 0 {
		t.Fatalf("Retry-After on 500 honoured: %+v", a)
	}
	mode.Store("redirect")
	if a = f.Deliver(context.Background(), route, ev); a.OK || a.Status != 302 || !strings.Contains(a.Err, "redirects are not followed") {
		t.Fatalf("redirect: %+v", a)
	}
	mode.Store("slow")
	if a = f.Deliver(context.Background(), route, ev); a.OK || a.Status != 0 || !strings.Contains(a.Err, "no answer from the app within") {
		t.Fatalf("slow: %+v", a)
	}

	// Connection refused; the URL (which may hold credentials) is not in Err.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	r2 := Route{URL: strings.Replace(dead.URL, "http://", "http://user:hunter2@", 1) + "/?token=s3cret", Secrets: []Secret{testSecret(t)}}
	a = f.Deliver(context.Background(), r2, ev)
	if a.OK || a.Status != 0 || a.Err == "" || strings.Contains(a.Err, "hunter2") || strings.Contains(a.Err, "s3cret") {
		t.Fatalf("refused: %+v", a)
	}
	a = f.Deliver(context.Background(), Route{URL: "::not a url"}, ev)
	if a.OK || !strings.Contains(a.Err, "invalid forward URL") {
		t.Fatalf("bad URL: %+v", a)
	}
}

func TestParseRetryAfter(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"30":                            30 * time.Second,
		" 7 ":                           7 * time.Second,
		"999999999":                     maxRetryAfter,
		"Thu, 01 Jan 2026 00:02:00 GMT": 2 * time.Minute,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
		"soon":                          0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, at); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRouteID(t *testing.T) {
	a := RouteID("shop", "http://127.0.0.1:8080/antom")
	if !strings.HasPrefix(a, "rt_") || len(a) != 19 {
		t.Fatal(a)
	}
	if a == RouteID("shop", "http://127.0.0.1:8080/antom2") || a == RouteID("shop2", "http://127.0.0.1:8080/antom") {
		t.Fatal("RouteID collides")
	}
}

// Helper headers come from the notification's body, which may hold anything JSON can: a
// request id with a control character must not make the event undeliverable. Such values
// arrive percent-encoded; a value too long for a header is left out. The body is untouched.
func TestDeliverEncodesHelperHeaders(t *testing.T) {
	var got http.Header
	var gotBody []byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
	}))
	defer app.Close()
	ev := testEvent("k1")
	ev.RequestID = "order\n1\r\x00 ü%"
	ev.Type = "PAYMENT_RESULT\x7f"
	ev.Kind = strings.Repeat("k", 4096)
	route := Route{ID: ev.Route, Profile: "shop", URL: app.URL, Secrets: []Secret{testSecret(t)}}
	if a := (&Forwarder{}).Deliver(context.Background(), route, ev); !a.OK {
		t.Fatalf("delivery failed: %+v", a)
	}
	want := map[string]string{
		"Antom-Request-Id":    "order%0A1%0D%00%20%C3%BC%25",
		"Antom-Event-Type":    "PAYMENT_RESULT%7F",
		"Antom-Event-Kind":    "",
		"Antom-Result-Status": "S",
	}
	for k, v := range want {
		if g := got.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if !bytes.Equal(gotBody, ev.Body) {
		t.Errorf("body changed: %q", gotBody)
	}
}
