package e2e

// End-to-end tests of antom_webhook through the real caddy binary: Antom's notification comes in
// over loopback, the fake app (fakeapp_test.go) stands in for the merchant's application, and the
// admin API shows what is in storage. The helpers here are prefixed "wh" to stay out of the way of
// other test files in this package.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

const (
	whClientID   = "TEST_5X00000000000000"
	whNotifyPath = "/antom/notify"
	// whWait bounds every wait for a delivery or a state change: generous, for a loaded 2-core
	// machine (a SIGKILLed leader's storage lock must go stale before the restart delivers).
	whWait = 90 * time.Second
)

// whSecretKey is the forward secret's key; distinctive, so a leak is easy to grep.
var whSecretKey = []byte("caddy-antom e2e forward secret!!")

// whSecret is the forward secret as configured: whsec_<base64>.
func whSecret() string { return "whsec_" + base64.StdEncoding.EncodeToString(whSecretKey) }

// whEnv is the environment the Caddyfiles' {env.*} placeholders read.
func whEnv(t testing.TB) map[string]string {
	return map[string]string{
		"ANTOM_PUBLIC_KEY":     antomSimPublicKey(t),
		"ANTOM_FORWARD_SECRET": whSecret(),
	}
}

// whConf describes a Caddyfile with one antom profile and one antom_webhook.
type whConf struct {
	Port        int    // site port on 127.0.0.1 (0: a free one)
	AppURL      string // the fake app's base URL; forward is AppURL + ForwardPath
	ForwardPath string // default /events
	SyncTimeout string // default 1s
	MaxAge      string // default 2m
	Global      string // extra global option lines
	Profile     string // extra lines in the antom profile block
	Webhook     string // extra lines in the antom_webhook block
	SiteAddr    string // default http://127.0.0.1:<Port>
	Site        string // extra site lines before antom_webhook
	NoSecret    bool   // no forward_secret line (forward_format antom needs none)
}

func (c *whConf) defaults(t testing.TB) {
	if c.Port == 0 {
		c.Port = freePort(t)
	}
	if c.ForwardPath == "" {
		c.ForwardPath = "/events"
	}
	if c.SyncTimeout == "" {
		c.SyncTimeout = "1s"
	}
	if c.MaxAge == "" {
		c.MaxAge = "2m"
	}
	if c.SiteAddr == "" {
		c.SiteAddr = fmt.Sprintf("http://127.0.0.1:%d", c.Port)
	}
}

func (c whConf) caddyfile() string {
	secret := "forward_secret {env.ANTOM_FORWARD_SECRET}"
	if c.NoSecret {
		secret = ""
	}
	return fmt.Sprintf(`{
	skip_install_trust
%s
	antom {
		client_id        %s
		antom_public_key {env.ANTOM_PUBLIC_KEY}
%s
	}
}

%s {
%s
	antom_webhook %s {
		forward        %s%s
		%s
		sync_timeout   %s
		max_age        %s
%s
	}
}
`, c.Global, whClientID, c.Profile, c.SiteAddr, c.Site, whNotifyPath, c.AppURL, c.ForwardPath, secret, c.SyncTimeout, c.MaxAge, c.Webhook)
}

// whStack is one caddy with an antom_webhook in front of one fake app.
type whStack struct {
	t    testing.TB
	p    *caddyProc
	app  *fakeApp
	conf whConf
	// Base is the site's base URL; Notify the notify URL.
	Base, Notify string
}

// whStart starts a fake app (unless conf.AppURL is set) and a caddy in front of it.
func whStart(t testing.TB, conf whConf) *whStack {
	t.Helper()
	return whStartWith(t, conf, caddyOpts{})
}

// whStartWith is whStart with harness options (shared DataDir, name); Caddyfile and Env are set here.
func whStartWith(t testing.TB, conf whConf, o caddyOpts) *whStack {
	t.Helper()
	s := &whStack{t: t}
	if conf.AppURL == "" {
		s.app = newFakeApp(t)
		conf.AppURL = s.app.URL
	}
	conf.defaults(t)
	s.conf = conf
	o.Caddyfile = conf.caddyfile()
	env := whEnv(t)
	for k, v := range o.Env {
		env[k] = v
	}
	o.Env = env
	s.p = startCaddyWith(t, o)
	s.Base = fmt.Sprintf("http://127.0.0.1:%d", conf.Port)
	s.Notify = s.Base + whNotifyPath
	return s
}

// whBody is a PAYMENT_RESULT notification like the golden vector's, for payment id.
func whBody(id string) []byte {
	return []byte(`{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},` +
		`"paymentRequestId":"PAYREQ_` + id + `","paymentId":"2024010119401080010018` + id + `",` +
		`"paymentAmount":{"value":"1000","currency":"USD"},"paymentCreateTime":"2024-01-01T00:00:05-08:00","paymentTime":"2024-01-01T00:01:10-08:00"}`)
}

// whEventID is the webhook-id the notification must get (docs/architecture.md: msg_ + hash of
// profile and the dedup key of protocol §5).
func whEventID(t testing.TB, body []byte) string {
	t.Helper()
	n, err := antom.ParseNotification(body)
	if err != nil {
		t.Fatalf("parsing a test notification: %v", err)
	}
	return outbox.EventID("default", n.DedupKey)
}

// whAck is the exact acknowledgement Antom requires (protocol §5).
func whAck(t testing.TB) []byte { return readVector(t, "notification/ack_body.json") }

// whRequireAck fails the test unless the answer is HTTP 200 with exactly the ack body.
func whRequireAck(t testing.TB, what string, status int, h http.Header, body []byte) {
	t.Helper()
	if status != http.StatusOK || !bytes.Equal(body, whAck(t)) {
		t.Fatalf("%s: Antom got HTTP %d %q, want 200 with exactly %s", what, status, body, whAck(t))
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: ack Content-Type %q, want application/json", what, ct)
	}
}

// whNotify posts a freshly signed notification and requires the SUCCESS ack.
func (s *whStack) whNotify(body []byte) {
	s.t.Helper()
	status, h, resp := postNotification(s.t, s.Notify, whClientID, body)
	whRequireAck(s.t, "notification", status, h, resp)
}

// whEvent is the admin API's view of an event.
type whEvent struct {
	ID             string    `json:"id"`
	Profile        string    `json:"profile"`
	Route          string    `json:"route"`
	Source         string    `json:"source"`
	Kind           string    `json:"kind"`
	Type           string    `json:"type"`
	ResultStatus   string    `json:"resultStatus"`
	RequestIDField string    `json:"requestIdField"`
	RequestID      string    `json:"requestId"`
	State          string    `json:"state"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"lastError"`
	LastStatus     int       `json:"lastStatus"`
	BodySize       int       `json:"bodySize"`
	ReceivedAt     time.Time `json:"receivedAt"`
	DeliveredAt    time.Time `json:"deliveredAt"`
	DeadAt         time.Time `json:"deadAt"`
}

// whEvents lists the events in a state through the admin API.
func whEvents(t testing.TB, p *caddyProc, state string) []whEvent {
	t.Helper()
	var evs []whEvent
	p.AdminGetJSON("/antom/events?state="+state+"&limit=1000", &evs)
	return evs
}

// whEventIDs is the sorted ids of evs.
func whEventIDs(evs []whEvent) []string {
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	sort.Strings(ids)
	return ids
}

// whGetEvent reads one event through the admin API; ok is false if the admin API did not
// answer 200 (e.g. during a reload).
func whGetEvent(t testing.TB, p *caddyProc, id string) (ev whEvent, raw []byte, ok bool) {
	t.Helper()
	status, body := p.AdminDo(http.MethodGet, "/antom/events/"+id, "", nil)
	if status != http.StatusOK {
		return whEvent{}, body, false
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("GET /antom/events/%s: %v in %s", id, err, body)
	}
	return ev, body, true
}

// whWaitState waits until the admin API shows event id in state.
func whWaitState(t testing.TB, p *caddyProc, id, state string) whEvent {
	t.Helper()
	return whWaitEvent(t, p, id, state, func(ev whEvent) bool { return ev.State == state })
}

// whWaitRetrying waits until the admin API shows event id pending after a failed attempt: the
// first attempt's outcome is written after Antom's ack.
func whWaitRetrying(t testing.TB, p *caddyProc, id string) whEvent {
	t.Helper()
	return whWaitEvent(t, p, id, "pending after a failed attempt", func(ev whEvent) bool {
		return ev.State == "pending" && ev.Attempts >= 1
	})
}

// whWaitEvent waits until the admin API shows event id as want has it (what says how).
func whWaitEvent(t testing.TB, p *caddyProc, id, what string, want func(whEvent) bool) whEvent {
	t.Helper()
	var last whEvent
	var lastRaw []byte
	deadline := time.Now().Add(whWait)
	for {
		ev, raw, ok := whGetEvent(t, p, id)
		if ok && want(ev) {
			return ev
		}
		last, lastRaw = ev, raw
		if time.Now().After(deadline) {
			t.Fatalf("event %s not %s after %s; last seen: %s (%+v)", id, what, whWait, lastRaw, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// whByID groups the fake app's requests by webhook-id.
func whByID(reqs []recordedRequest) map[string][]recordedRequest {
	m := map[string][]recordedRequest{}
	for _, r := range reqs {
		id := r.Header.Get("webhook-id")
		m[id] = append(m[id], r)
	}
	return m
}

func whOK(r recordedRequest) bool { return r.Status >= 200 && r.Status < 300 }

// whWaitDelivered waits until the fake app has answered 2xx to every id in ids.
func whWaitDelivered(t testing.TB, app *fakeApp, ids []string) {
	t.Helper()
	waitFor(t, whWait, fmt.Sprintf("a 2xx delivery of each of %d event(s)\n%s", len(ids), app.dump()), func() bool {
		by := whByID(app.Requests())
		for _, id := range ids {
			ok := false
			for _, r := range by[id] {
				ok = ok || whOK(r)
			}
			if !ok {
				return false
			}
		}
		return true
	})
}

// whCheckDeliveries checks what the app received against the events that exist (want: webhook-id
// -> body). Every delivery must carry a known webhook-id and that event's exact body; every
// event must have been accepted (2xx) at least once. With exactlyOnce, each event must have
// exactly one 2xx; otherwise duplicates (same id) are only logged.
func whCheckDeliveries(t testing.TB, app *fakeApp, want map[string][]byte, exactlyOnce bool) {
	t.Helper()
	by := whByID(app.Requests())
	for id, reqs := range by {
		body, known := want[id]
		if !known {
			t.Errorf("the app got %d delivery(ies) with unknown webhook-id %q", len(reqs), id)
			continue
		}
		for _, r := range reqs {
			if !bytes.Equal(r.Body, body) {
				t.Errorf("delivery of %s carries a different body:\n got %s\nwant %s", id, r.Body, body)
			}
		}
	}
	for id := range want {
		n := 0
		for _, r := range by[id] {
			if whOK(r) {
				n++
			}
		}
		switch {
		case n == 0:
			t.Errorf("event %s never delivered (%d attempt(s) reached the app)", id, len(by[id]))
		case n > 1 && exactlyOnce:
			t.Errorf("event %s delivered %d times, want exactly once", id, n)
		case n > 1:
			var seen []string
			for _, r := range by[id] {
				seen = append(seen, fmt.Sprintf("%s attempt %s -> %d", r.At.Format("15:04:05.000"), r.Header.Get("Antom-Attempt"), r.Status))
			}
			t.Logf("event %s delivered %d times with the same webhook-id (allowed: at-least-once): %s", id, n, strings.Join(seen, "; "))
		}
	}
}

// whCheckHeaders checks the descriptive and Standard Webhooks headers of a delivery of a
// whBody/golden PAYMENT_RESULT notification.
func whCheckHeaders(t testing.TB, r recordedRequest, id, requestID string, attempt int) {
	t.Helper()
	want := map[string]string{
		"Content-Type":           "application/json",
		"webhook-id":             id,
		"Antom-Profile":          "default",
		"Antom-Event-Kind":       "payment",
		"Antom-Event-Type":       "PAYMENT_RESULT",
		"Antom-Result-Status":    "S",
		"Antom-Request-Id":       requestID,
		"Antom-Request-Id-Field": "paymentRequestId",
		"Antom-Event-Source":     "notification",
		"Antom-Attempt":          strconv.Itoa(attempt),
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("delivery header %s = %q, want %q", k, got, v)
		}
	}
	ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Errorf("webhook-timestamp %q is not unix seconds", r.Header.Get("webhook-timestamp"))
	} else if d := time.Since(time.Unix(ts, 0)); d < -time.Minute || d > 5*time.Minute {
		t.Errorf("webhook-timestamp %d is %s away from now", ts, d)
	}
	if sig := r.Header.Get("webhook-signature"); !strings.HasPrefix(sig, "v1,") {
		t.Errorf("webhook-signature %q is not a v1 signature", sig)
	}
}

// whRawRequest sends raw HTTP/1.1 bytes to addr and reads one response.
func whRawRequest(t testing.TB, addr string, raw []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		t.Fatalf("writing the raw request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return resp, body
}

// The golden notification vector, sent as the exact bytes of http_request.txt (its Host, headers,
// path and body), is a capture from 2024: refused as stale. The same bytes with a fresh
// request-time and signature reach the app byte for byte with Standard Webhooks headers that the
// standardwebhooks npm package accepts, and Antom gets exactly the ack.
func TestWebhookGoldenVector(t *testing.T) {
	t.Parallel()
	requireNodeModules(t)
	port := freePort(t)
	// The vector's Host is merchant.example.com: a site without a host matcher, bound to loopback.
	s := whStart(t, whConf{Port: port, SiteAddr: fmt.Sprintf("http://:%d", port), Site: "\tbind 127.0.0.1"})

	raw := readVector(t, "notification/http_request.txt")
	body := readVector(t, "notification/body.json")
	head, rawBody, found := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !found || !bytes.Equal(rawBody, body) || !bytes.HasPrefix(head, []byte("POST /antom/notify HTTP/1.1\r\n")) {
		t.Fatalf("http_request.txt is not POST /antom/notify with body.json as its body")
	}
	addr := s.Base[len("http://"):]
	resp, answer := whRawRequest(t, addr, raw)
	if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(answer, []byte("stale_request_time")) {
		t.Fatalf("the 2024 capture: HTTP %d %s, want 401 stale_request_time", resp.StatusCode, answer)
	}

	// The same request, signed now: only the request-time and signature lines change.
	oldTime := "2024-01-01T00:01:11-08:00"
	fresh := signNotification(t, whNotifyPath, whClientID, antom.RequestTime(time.Now()), body)
	oldSig := "signature: " + strings.TrimSpace(string(readVector(t, "notification/signature_header_value.txt")))
	resigned := bytes.Replace(raw, []byte("request-time: "+oldTime), []byte("request-time: "+fresh.Get("request-time")), 1)
	resigned = bytes.Replace(resigned, []byte(oldSig), []byte("signature: "+fresh.Get("signature")), 1)
	if bytes.Equal(resigned, raw) || !bytes.HasSuffix(resigned, body) {
		t.Fatal("could not put a fresh request-time and signature into http_request.txt")
	}
	resp, ack := whRawRequest(t, addr, resigned)
	whRequireAck(t, "golden notification", resp.StatusCode, resp.Header, ack)

	id := whEventID(t, body)
	reqs := s.app.WaitRequests(1, whWait)
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/events" || r.Query != "" {
		t.Errorf("delivery is %s %s?%s, want POST /events", r.Method, r.Path, r.Query)
	}
	if !bytes.Equal(r.Body, body) {
		t.Fatalf("the app got a different body:\n got %q\nwant %q", r.Body, body)
	}
	whCheckHeaders(t, r, id, "PAYREQ_20240101_0001", 1)
	if err := verifyStandardWebhook(t, whSecret(), r.Header, r.Body); err != nil {
		t.Fatalf("the standardwebhooks package refuses the delivery: %v", err)
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret, not the real one"))
	if err := verifyStandardWebhook(t, other, r.Header, r.Body); err == nil {
		t.Fatalf("the standardwebhooks package accepts the delivery with the wrong secret")
	}

	ev := whWaitState(t, s.p, id, "delivered")
	if ev.Attempts != 1 || ev.Type != "PAYMENT_RESULT" || ev.BodySize != len(body) || ev.Source != "notification" {
		t.Errorf("admin view of the delivered event: %+v", ev)
	}

	// Antom's retry of the same notification, with the signature as .NET encodes it (lower-case
	// hex) and spaces after the commas as the docs print it: verified, acked, not delivered again.
	retryTime := antom.RequestTime(time.Now())
	sig := signNotification(t, whNotifyPath, whClientID, retryTime, body).Get("signature")
	sig = regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(sig, strings.ToLower)
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("client-id", whClientID)
	h.Set("request-time", retryTime)
	h.Set("signature", strings.ReplaceAll(sig, ",", ", "))
	status, rh, rb := httpDo(t, http.MethodPost, s.Notify, h, body)
	whRequireAck(t, "the golden notification again, lower-case hex signature", status, rh, rb)
	s.app.Never(time.Second)
	if n := s.app.Len(); n != 1 {
		t.Fatalf("the app got %d requests, want 1 (the repeat is a duplicate)", n)
	}
}

// Notifications whose signature does not verify over what was received are refused with 401 and
// a JSON result naming the reason: nothing is forwarded and nothing is stored.
func TestWebhookRejectsUnverified(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	body := whBody("REJECT0001")
	now := antom.RequestTime(time.Now())

	sign := func(path, clientID, rt string, b []byte) http.Header {
		return signNotification(t, path, clientID, rt, b)
	}
	withHeader := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	// signWithMerchantKey signs like Antom but with the merchant's own private key: the key mix-up.
	signWithMerchantKey := func() http.Header {
		k, err := antom.ParsePrivateKey(merchantPrivateKey(t))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := antom.Sign(k, antom.ContentToSign("POST", whNotifyPath, whClientID, now, body))
		if err != nil {
			t.Fatal(err)
		}
		return withHeader(sign(whNotifyPath, whClientID, now, body), "signature", antom.SignatureHeader("1", sig))
	}
	good := sign(whNotifyPath, whClientID, now, body)
	sigValue := strings.TrimPrefix(good.Get("signature"), "algorithm=RSA256,keyVersion=1,signature=")
	tampered := bytes.Replace(body, []byte(`"value":"1000"`), []byte(`"value":"9000"`), 1)
	laterTime := antom.RequestTime(time.Now().Add(time.Second))
	if laterTime == now {
		laterTime = now + "1"
	}

	cases := []struct {
		name   string
		target string // path and query posted to
		h      http.Header
		body   []byte
		reason string
	}{
		{"tampered body", whNotifyPath, good, tampered, "bad_signature"},
		{"body with a trailing newline", whNotifyPath, good, append(append([]byte(nil), body...), '\n'), "bad_signature"},
		{"signed for another path", whNotifyPath, sign("/antom/notify2", whClientID, now, body), body, "bad_signature"},
		{"query string added", whNotifyPath + "?paid=1", good, body, "bad_signature"},
		{"tampered request-time", whNotifyPath, withHeader(good, "request-time", laterTime), body, "bad_signature"},
		{"missing request-time", whNotifyPath, withHeader(good, "request-time", ""), body, "malformed_request_time"},
		{"another client-id", whNotifyPath, sign(whNotifyPath, "TEST_5Y00000000000000", now, body), body, "client_id_mismatch"},
		{"signed for another client-id", whNotifyPath, withHeader(sign(whNotifyPath, "TEST_5Y00000000000000", now, body), "client-id", whClientID), body, "bad_signature"},
		{"missing client-id", whNotifyPath, withHeader(good, "client-id", ""), body, "client_id_mismatch"},
		{"signed with the merchant key", whNotifyPath, signWithMerchantKey(), body, "bad_signature"},
		{"missing signature", whNotifyPath, withHeader(good, "signature", ""), body, "missing_signature"},
		{"garbage signature header", whNotifyPath, withHeader(good, "signature", "this is not a signature"), body, "malformed_signature"},
		{"signature not base64", whNotifyPath, withHeader(good, "signature", "algorithm=RSA256,keyVersion=1,signature=%%%25not*base64!"), body, "malformed_signature"},
		{"signature truncated", whNotifyPath, withHeader(good, "signature", "algorithm=RSA256,keyVersion=1,signature="+sigValue[:40]), body, ""},
		{"unknown key version", whNotifyPath, withHeader(good, "signature", "algorithm=RSA256,keyVersion=7,signature="+sigValue), body, "unknown_key_version"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			status, _, resp := httpDo(t, http.MethodPost, s.Base+c.target, c.h, c.body)
			if status != http.StatusUnauthorized {
				t.Fatalf("HTTP %d %s, want 401", status, resp)
			}
			var res struct {
				Result antom.Result `json:"result"`
			}
			if err := json.Unmarshal(resp, &res); err != nil {
				t.Fatalf("the answer is not a JSON result: %q", resp)
			}
			if res.Result.ResultStatus != "F" || res.Result.ResultCode == "SUCCESS" || res.Result.ResultCode == "" {
				t.Errorf("result %+v, want a failure code with status F", res.Result)
			}
			if c.reason != "" && !strings.HasPrefix(res.Result.ResultMessage, c.reason) {
				t.Errorf("resultMessage %q does not name the reason %s", res.Result.ResultMessage, c.reason)
			}
			if c.reason == "" && !strings.HasPrefix(res.Result.ResultMessage, "bad_signature") && !strings.HasPrefix(res.Result.ResultMessage, "malformed_signature") {
				t.Errorf("resultMessage %q names neither bad_signature nor malformed_signature", res.Result.ResultMessage)
			}
			if strings.Contains(c.name, "merchant key") && !strings.Contains(res.Result.ResultMessage, "Antom public key") {
				t.Errorf("resultMessage %q does not say which key failed", res.Result.ResultMessage)
			}
		})
	}

	if n := s.app.Len(); n != 0 {
		t.Fatalf("%d request(s) forwarded to the app from rejected notifications\n%s", n, s.app.dump())
	}
	for _, state := range []string{"pending", "delivered", "dead"} {
		if evs := whEvents(t, s.p, state); len(evs) != 0 {
			t.Errorf("rejected notifications were stored: %d %s event(s): %+v", len(evs), state, evs)
		}
	}
	// The control: the same notification, properly signed, goes through this very config.
	status, h, resp := httpDo(t, http.MethodPost, s.Notify, good, body)
	whRequireAck(t, "the untampered notification", status, h, resp)
	// A notify URL with a query string: the query is part of what Antom signs.
	withQuery := whBody("REJECT0002")
	status, h, resp = httpDo(t, http.MethodPost, s.Notify+"?shop=1&x=%2F",
		sign(whNotifyPath+"?shop=1&x=%2F", whClientID, now, withQuery), withQuery)
	whRequireAck(t, "a notification to a notify URL with a query", status, h, resp)
	whWaitDelivered(t, s.app, []string{whEventID(t, body), whEventID(t, withQuery)})
	whCheckDeliveries(t, s.app, map[string][]byte{whEventID(t, body): body, whEventID(t, withQuery): withQuery}, true)
}

// The app is down: Antom still gets SUCCESS, the event waits as pending, and arrives once the
// app is back.
func TestWebhookAppDownThenUp(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	body := whBody("DOWN000001")
	id := whEventID(t, body)

	s.app.Off()
	s.whNotify(body)
	whWaitRetrying(t, s.p, id)
	pending := whEvents(t, s.p, "pending")
	if len(pending) != 1 || pending[0].ID != id || pending[0].Attempts < 1 || pending[0].LastError == "" {
		t.Fatalf("after a failed synchronous delivery, pending = %+v; want %s with attempts >= 1 and a last error", pending, id)
	}
	if s.app.Len() != 0 {
		t.Fatalf("the app was down but recorded requests")
	}

	s.app.On()
	whWaitDelivered(t, s.app, []string{id})
	ev := whWaitState(t, s.p, id, "delivered")
	if ev.Attempts < 2 {
		t.Errorf("delivered after %d attempt(s), want >= 2 (the first failed)", ev.Attempts)
	}
	reqs := s.app.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the app got %d requests, want 1\n%s", len(reqs), s.app.dump())
	}
	whCheckHeaders(t, reqs[0], id, "PAYREQ_DOWN000001", ev.Attempts)
	whCheckDeliveries(t, s.app, map[string][]byte{id: body}, true)
}

// A paymentRequestId with a newline (any JSON string is a valid id to Antom's signature) cannot
// go in a header as it is: the Antom-Request-Id header carries it percent-encoded, and the
// event is delivered at once, with the body byte for byte.
func TestWebhookRequestIDWithNewline(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	body := bytes.Replace(whBody("NEWLINE001"), []byte(`"PAYREQ_NEWLINE001"`), []byte(`"PAYREQ_NEW\nLINE 001%"`), 1)
	id := whEventID(t, body)

	s.whNotify(body)
	ev := whWaitState(t, s.p, id, "delivered")
	reqs := s.app.Requests()
	if len(reqs) != 1 || ev.Attempts != 1 {
		t.Fatalf("the app got %d request(s), %d attempt(s); want the synchronous delivery only\n%s", len(reqs), ev.Attempts, s.app.dump())
	}
	whCheckHeaders(t, reqs[0], id, "PAYREQ_NEW%0ALINE%20001%25", 1)
	whCheckDeliveries(t, s.app, map[string][]byte{id: body}, true)
}

// The app answers 500, then 200: the event is delivered once more with the same webhook-id, and
// exactly one attempt got a 2xx.
func TestWebhookAppErrorThenSuccess(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	s.app.SetStatuses(http.StatusInternalServerError)
	body := whBody("RETRY00001")
	id := whEventID(t, body)

	s.whNotify(body)
	s.app.WaitRequests(2, whWait)
	ev := whWaitState(t, s.p, id, "delivered")
	s.app.Never(time.Second)
	reqs := s.app.Requests()
	if len(reqs) != 2 {
		t.Fatalf("the app got %d requests, want 2 (500 then 200)\n%s", len(reqs), s.app.dump())
	}
	if reqs[0].Status != 500 || reqs[1].Status != 200 {
		t.Fatalf("statuses %d, %d; want 500, 200", reqs[0].Status, reqs[1].Status)
	}
	for i, r := range reqs {
		if got := r.Header.Get("webhook-id"); got != id {
			t.Errorf("attempt %d has webhook-id %q, want %q (the same on every attempt)", i+1, got, id)
		}
		whCheckHeaders(t, r, id, "PAYREQ_RETRY00001", i+1)
	}
	whCheckDeliveries(t, s.app, map[string][]byte{id: body}, true)
	if ev.Attempts != 2 {
		t.Errorf("admin shows %d attempts, want 2", ev.Attempts)
	}
}

// Caddy is SIGKILLed after acknowledging Antom and before the app got the event (the app was down,
// or too slow, during sync_timeout); after a restart on the same storage the event is delivered.
func TestWebhookSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	for _, slow := range []bool{false, true} {
		name := "app_down"
		if slow {
			name = "app_slow"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := whStartWith(t, whConf{}, caddyOpts{DataDir: t.TempDir()})
			body := whBody("KILL00000" + strconv.FormatBool(slow)[:1])
			id := whEventID(t, body)

			s.app.Off()
			var hole *whBlackHole
			if slow {
				hole = whListenBlackHole(t, s.app.Addr) // accepts, never answers: sync_timeout runs out
			}
			s.whNotify(body)
			s.p.Kill()
			if hole != nil {
				if hole.Accepted() == 0 {
					t.Errorf("the synchronous attempt never reached the slow app")
				}
				hole.Close()
			}
			// The acknowledged event is on disk, in the default store's database.
			db, err := sqlstore.OpenSQLite(filepath.Join(s.p.DataDir, "caddy", "antom", "events.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := db.Get(context.Background(), id)
			db.Close()
			if err != nil || ev.State != "pending" {
				t.Fatalf("the acknowledged event is not stored pending after SIGKILL: %+v, %v", ev, err)
			}
			if s.app.Len() != 0 {
				t.Fatalf("the app was down but recorded requests")
			}

			s.app.On()
			s.p.Restart()
			whWaitDelivered(t, s.app, []string{id})
			whWaitState(t, s.p, id, "delivered")
			s.app.Never(time.Second)
			whCheckDeliveries(t, s.app, map[string][]byte{id: body}, true)
			if err := verifyStandardWebhook(t, whSecret(), s.app.Requests()[0].Header, s.app.Requests()[0].Body); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// whBlackHole is an app that accepts connections and reads requests but never answers.
type whBlackHole struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

// whListenBlackHole listens on addr (retrying while the port is released) until Close.
func whListenBlackHole(t testing.TB, addr string) *whBlackHole {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("black hole: %v", err)
	}
	h := &whBlackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.accepted++
			h.mu.Unlock()
			go io.Copy(io.Discard, c) //nolint:errcheck // until Close
		}
	}()
	t.Cleanup(h.Close)
	return h
}

// Accepted is how many connections came in.
func (h *whBlackHole) Accepted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepted
}

// Close stops listening and drops every connection.
func (h *whBlackHole) Close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// The same notification sent twice in a row, and 20 times at once, is delivered once each; every
// copy gets the SUCCESS ack.
func TestWebhookDuplicates(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})

	twice := whBody("DUP0000001")
	s.whNotify(twice)
	s.whNotify(twice)

	burst := whBody("DUP0000002")
	const n = 20
	base := time.Now()
	hs := make([]http.Header, n)
	for i := range hs {
		hs[i] = signNotification(t, whNotifyPath, whClientID, antom.RequestTime(base.Add(time.Duration(i)*time.Millisecond)), burst)
	}
	type answer struct {
		status int
		h      http.Header
		body   []byte
		err    error
	}
	answers := make([]answer, n)
	client := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			req, err := http.NewRequest(http.MethodPost, s.Notify, bytes.NewReader(burst))
			if err != nil {
				answers[i].err = err
				return
			}
			req.Header = hs[i]
			resp, err := client.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			answers[i].status, answers[i].h = resp.StatusCode, resp.Header
			answers[i].body, answers[i].err = io.ReadAll(resp.Body)
		}(i)
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("concurrent copy %d: %v", i, a.err)
		}
		whRequireAck(t, fmt.Sprintf("concurrent copy %d", i), a.status, a.h, a.body)
	}

	want := map[string][]byte{whEventID(t, twice): twice, whEventID(t, burst): burst}
	for id := range want {
		whWaitState(t, s.p, id, "delivered")
	}
	s.app.Never(1500 * time.Millisecond)
	whCheckDeliveries(t, s.app, want, true)
	if got := s.app.Len(); got != 2 {
		t.Errorf("the app got %d requests, want 2\n%s", got, s.app.dump())
	}
	delivered := whEvents(t, s.p, "delivered")
	if len(delivered) != 2 {
		t.Errorf("admin lists %d delivered events, want 2: %+v", len(delivered), delivered)
	}
	for _, ev := range delivered {
		if ev.Attempts != 1 {
			t.Errorf("event %s: %d attempts, want 1", ev.ID, ev.Attempts)
		}
	}
}

// A config reload while events are pending loses none of them: after the reload the new config's
// workers deliver every one (duplicates, if any, only with the same webhook-id).
func TestWebhookReloadWhilePending(t *testing.T) {
	t.Parallel()
	conf := whConf{}
	s := whStart(t, conf)
	s.app.Off()
	want := map[string][]byte{}
	for i := 0; i < 5; i++ {
		body := whBody(fmt.Sprintf("RELOAD%04d", i))
		want[whEventID(t, body)] = body
		s.whNotify(body)
	}
	if pending := whEvents(t, s.p, "pending"); len(pending) != len(want) {
		t.Fatalf("%d pending events before the reload, want %d: %+v", len(pending), len(want), pending)
	}

	changed := s.conf
	changed.SyncTimeout = "2s"
	s.p.Reload(changed.caddyfile())
	if cfg := string(s.p.AdminGet("/config/")); !strings.Contains(cfg, `"sync_timeout":2000000000`) {
		t.Fatalf("the reloaded config is not running: %s", cfg)
	}
	s.app.On()

	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	whWaitDelivered(t, s.app, ids)
	for _, id := range ids {
		whWaitState(t, s.p, id, "delivered")
	}
	if pending := whEvents(t, s.p, "pending"); len(pending) != 0 {
		t.Errorf("still pending after delivery: %+v", pending)
	}

	// The new config takes new notifications too.
	body := whBody("RELOAD9999")
	want[whEventID(t, body)] = body
	s.whNotify(body)
	whWaitDelivered(t, s.app, []string{whEventID(t, body)})
	whCheckDeliveries(t, s.app, want, false)
}

// Two caddy processes share one storage (a cluster): notifications land on both while the app is
// down; when it is back, every event is delivered (by whichever instance leads), duplicates only
// with the same webhook-id.
func TestWebhookClusterSharedStorage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	app := newFakeApp(t)
	a := whStartWith(t, whConf{AppURL: app.URL}, caddyOpts{DataDir: data, Name: "caddy-a"})
	b := whStartWith(t, whConf{AppURL: app.URL}, caddyOpts{DataDir: data, Name: "caddy-b"})
	a.app, b.app = app, app

	app.Off()
	want := map[string][]byte{}
	for i := 0; i < 8; i++ {
		body := whBody(fmt.Sprintf("CLUSTER%03d", i))
		want[whEventID(t, body)] = body
		if i%2 == 0 {
			a.whNotify(body)
		} else {
			b.whNotify(body)
		}
	}
	// Either instance sees all of them: the storage is shared.
	if pending := whEvents(t, b.p, "pending"); len(pending) != len(want) {
		t.Fatalf("instance b lists %d pending events, want %d", len(pending), len(want))
	}

	app.On()
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	whWaitDelivered(t, app, ids)
	for _, id := range ids {
		whWaitState(t, a.p, id, "delivered")
	}
	whCheckDeliveries(t, app, want, false)
	for _, p := range []*caddyProc{a.p, b.p} {
		if pending := whEvents(t, p, "pending"); len(pending) != 0 {
			t.Errorf("%s still lists pending events: %+v", p.opts.Name, pending)
		}
	}

	// The instance that leads crashes; the other takes over the retries once the lock is stale.
	leader, survivor := a, b
	if !strings.Contains(a.p.Logs(), "leadership acquired") {
		leader, survivor = b, a
	}
	app.Off()
	leader.p.Kill()
	more := map[string][]byte{}
	for i := 0; i < 3; i++ {
		body := whBody(fmt.Sprintf("FAILOVER%02d", i))
		more[whEventID(t, body)] = body
		want[whEventID(t, body)] = body
		survivor.whNotify(body)
	}
	app.On()
	ids = ids[:0]
	for id := range more {
		ids = append(ids, id)
	}
	whWaitDelivered(t, app, ids)
	for _, id := range ids {
		whWaitState(t, survivor.p, id, "delivered")
	}
	whCheckDeliveries(t, app, want, false)
}

// An event the app keeps refusing goes dead after max_age, visible in the admin API with its
// attempts and last error; replaying it (one by id, the rest with replay-dead) delivers it.
func TestWebhookMaxAgeDeadThenReplay(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{MaxAge: "3s"})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	s.app.SetBody("app is broken")
	one, two := whBody("DEAD000001"), whBody("DEAD000002")
	id1, id2 := whEventID(t, one), whEventID(t, two)
	s.whNotify(one)
	s.whNotify(two)

	for _, id := range []string{id1, id2} {
		ev := whWaitState(t, s.p, id, "dead")
		if ev.Attempts < 2 || ev.LastStatus != 500 || !strings.Contains(ev.LastError, "500") || !strings.Contains(ev.LastError, "app is broken") {
			t.Errorf("dead event %s: attempts %d, last status %d, last error %q; want >= 2 attempts and the app's 500", id, ev.Attempts, ev.LastStatus, ev.LastError)
		}
		if ev.DeadAt.IsZero() {
			t.Errorf("dead event %s has no deadAt", id)
		}
	}
	if ids := whEventIDs(whEvents(t, s.p, "dead")); len(ids) != 2 {
		t.Fatalf("admin lists dead %v, want both events", ids)
	}
	if pending := whEvents(t, s.p, "pending"); len(pending) != 0 {
		t.Fatalf("dead events still listed as pending: %+v", pending)
	}
	failures := s.app.Len()
	for _, r := range s.app.Requests() {
		if whOK(r) {
			t.Fatalf("a dead event was accepted by the app")
		}
	}

	s.app.SetDefaultStatus(http.StatusOK)
	status, resp := s.p.AdminDo(http.MethodPost, "/antom/events/"+id1+"/replay", "", nil)
	if status != http.StatusOK || !strings.Contains(string(resp), id1) {
		t.Fatalf("replay %s: HTTP %d %s", id1, status, resp)
	}
	whWaitDelivered(t, s.app, []string{id1})
	whWaitState(t, s.p, id1, "delivered")
	if ev, _, _ := whGetEvent(t, s.p, id2); ev.State != "dead" {
		t.Errorf("replaying %s changed %s to %s", id1, id2, ev.State)
	}

	status, resp = s.p.AdminDo(http.MethodPost, "/antom/events/replay-dead", "", nil)
	var replayed struct {
		Replayed int `json:"replayed"`
	}
	if status != http.StatusOK || json.Unmarshal(resp, &replayed) != nil || replayed.Replayed != 1 {
		t.Fatalf("replay-dead: HTTP %d %s, want {\"replayed\":1}", status, resp)
	}
	whWaitDelivered(t, s.app, []string{id2})
	whWaitState(t, s.p, id2, "delivered")
	if dead := whEvents(t, s.p, "dead"); len(dead) != 0 {
		t.Errorf("still dead after replay: %+v", dead)
	}
	// Replays carry the same webhook-id and body; each event got exactly one 2xx.
	whCheckDeliveries(t, s.app, map[string][]byte{id1: one, id2: two}, true)
	if s.app.Len() != failures+2 {
		t.Errorf("the app got %d requests after the replays, want %d", s.app.Len()-failures, 2)
	}

	if status, _ := s.p.AdminDo(http.MethodPost, "/antom/events/not-an-id/replay", "", nil); status != http.StatusNotFound {
		t.Errorf("replaying a malformed id: HTTP %d, want 404", status)
	}
	if status, _ := s.p.AdminDo(http.MethodPost, "/antom/events/msg_00000000000000000000000000000000/replay", "", nil); status < 400 {
		t.Errorf("replaying an unknown id: HTTP %d, want an error", status)
	}
}

// A body over max_body gets 413, a GET gets 405, and neither is stored or forwarded; the admin
// API shows events without their body and without any secret.
func TestWebhookLimitsAndAdminView(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})

	status, h, resp := httpDo(t, http.MethodGet, s.Notify, nil, nil)
	if status != http.StatusMethodNotAllowed || !strings.Contains(h.Get("Allow"), "POST") {
		t.Errorf("GET: HTTP %d, Allow %q; want 405 and Allow: POST", status, h.Get("Allow"))
	}
	if !json.Valid(resp) || !strings.Contains(string(resp), `"resultStatus":"F"`) {
		t.Errorf("GET: answer %q is not a JSON failure result", resp)
	}

	// Default max_body is 64 KiB; this signed notification is much larger.
	big := whBody("BIG0000001")
	big = append(big[:len(big)-1], []byte(`,"padding":"`+strings.Repeat("x", 1<<20)+`"}`)...)
	// caddy answers 413 from the Content-Length without reading the body and closes the
	// connection; a client still writing the megabyte may see the reset before the answer, so
	// this one asks first (Expect: 100-continue) and sends nothing after the 413.
	signed := signNotification(t, "/antom/notify", whClientID, "", big)
	signed.Set("Expect", "100-continue")
	status, _, resp = httpDo(t, http.MethodPost, s.Notify, signed, big)
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: HTTP %d %.200s, want 413", status, resp)
	}
	if !strings.Contains(string(resp), "body_too_large") {
		t.Errorf("oversized body: answer %q does not name the reason", resp)
	}
	if s.app.Len() != 0 {
		t.Fatalf("a refused request was forwarded")
	}
	for _, state := range []string{"pending", "delivered", "dead"} {
		if evs := whEvents(t, s.p, state); len(evs) != 0 {
			t.Errorf("refused requests were stored: %d %s event(s)", len(evs), state)
		}
	}

	if status, _ := s.p.AdminDo(http.MethodGet, "/antom/events/msg_00000000000000000000000000000000", "", nil); status != http.StatusNotFound {
		t.Errorf("GET an unknown event: HTTP %d, want 404", status)
	}
	if status, _ := s.p.AdminDo(http.MethodGet, "/antom/events?state=lost", "", nil); status != http.StatusBadRequest {
		t.Errorf("GET events in an unknown state: HTTP %d, want 400", status)
	}

	body := whBody("VIEW000001")
	id := whEventID(t, body)
	s.whNotify(body)
	whWaitDelivered(t, s.app, []string{id})
	whWaitState(t, s.p, id, "delivered")
	_, one, _ := whGetEvent(t, s.p, id)
	list := s.p.AdminGet("/antom/events?state=delivered")
	for what, raw := range map[string][]byte{"GET /antom/events/<id>": one, "GET /antom/events?state=delivered": list} {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var ev map[string]any
		switch x := v.(type) {
		case map[string]any:
			ev = x
		case []any:
			if len(x) != 1 {
				t.Fatalf("%s lists %d events, want 1", what, len(x))
			}
			ev, _ = x[0].(map[string]any)
		}
		if _, has := ev["body"]; has {
			t.Errorf("%s shows the body: %s", what, raw)
		}
		if ev["id"] != id || ev["bodySize"] != float64(len(body)) {
			t.Errorf("%s: id %v bodySize %v, want %s and %d", what, ev["id"], ev["bodySize"], id, len(body))
		}
		for _, leak := range []string{whSecret(), base64.StdEncoding.EncodeToString(whSecretKey), base64.StdEncoding.EncodeToString(body),
			`"paymentAmount"`, `PAYMENT_RESULT","result"`, s.app.URL} {
			if strings.Contains(string(raw), leak) {
				t.Errorf("%s contains %.60q: %s", what, leak, raw)
			}
		}
	}
}

// whKeyChunks returns distinctive pieces of a key's base64 text (PEM armour and line breaks
// removed), which must never show up in logs or configs.
func whKeyChunks(key string) []string {
	var b64 strings.Builder
	for _, line := range strings.Split(key, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-----") {
			continue
		}
		b64.WriteString(line)
	}
	s := b64.String()
	var out []string
	for i := 40; i+32 <= len(s); i += len(s) / 4 {
		out = append(out, s[i:i+32])
	}
	return out
}

// The forward secret and the keys never appear in caddy's logs (debug level, access logs), in
// GET /config/ or in the autosaved config: the {env.*} placeholders do, the values do not.
func TestWebhookSecretsStayOutOfLogsAndConfig(t *testing.T) {
	t.Parallel()
	conf := whConf{
		Global:  "\tdebug",
		Profile: "\t\tprivate_key      {env.ANTOM_MERCHANT_PRIVATE_KEY}",
		Site:    "\tlog",
	}
	s := whStartWith(t, conf, caddyOpts{Env: map[string]string{"ANTOM_MERCHANT_PRIVATE_KEY": merchantPrivateKey(t)}})

	// Exercise the paths that log: a delivery that fails and is retried, a rejection, a reload.
	s.app.SetStatuses(http.StatusInternalServerError)
	body := whBody("SECRET0001")
	id := whEventID(t, body)
	s.whNotify(body)
	tampered := signNotification(t, whNotifyPath, whClientID, "", body)
	if status, _, _ := httpDo(t, http.MethodPost, s.Notify, tampered, append(append([]byte(nil), body...), ' ')); status != http.StatusUnauthorized {
		t.Errorf("tampered notification: HTTP %d, want 401", status)
	}
	whWaitDelivered(t, s.app, []string{id})
	whWaitState(t, s.p, id, "delivered")
	changed := s.conf
	changed.SyncTimeout = "2s"
	s.p.Reload(changed.caddyfile())
	cfg := s.p.AdminGet("/config/")
	events := s.p.AdminGet("/antom/events?state=delivered")
	autosave, err := os.ReadFile(filepath.Join(s.p.ConfigDir, "caddy", "autosave.json"))
	if err != nil {
		t.Fatalf("reading autosave.json: %v", err)
	}
	if err := s.p.Stop(); err != nil {
		t.Errorf("stopping caddy: %v", err)
	}

	secrets := map[string]string{
		"forward secret":           whSecret(),
		"forward secret key bytes": base64.StdEncoding.EncodeToString(whSecretKey),
		"forward secret raw key":   string(whSecretKey),
	}
	for i, c := range whKeyChunks(merchantPrivateKey(t)) {
		secrets[fmt.Sprintf("merchant private key chunk %d", i)] = c
	}
	for i, c := range whKeyChunks(antomSimPublicKey(t)) {
		secrets[fmt.Sprintf("Antom public key chunk %d", i)] = c
	}
	logs := s.p.Logs()
	if !strings.Contains(logs, "notification rejected") || !strings.Contains(logs, id) {
		t.Fatalf("the logs do not show the exercised paths; the check would be vacuous:\n%s", logs)
	}
	for where, text := range map[string]string{"caddy's logs": logs, "GET /config/": string(cfg), "autosave.json": string(autosave), "GET /antom/events": string(events)} {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain the %s", where, what)
			}
		}
	}
	for _, ph := range []string{"{env.ANTOM_FORWARD_SECRET}", "{env.ANTOM_PUBLIC_KEY}", "{env.ANTOM_MERCHANT_PRIVATE_KEY}"} {
		if !strings.Contains(string(cfg), ph) {
			t.Errorf("GET /config/ lacks the placeholder %s:\n%s", ph, cfg)
		}
	}
}

// Behind `uri strip_prefix`, the handler verifies against notify_path (the path Antom signed),
// not the rewritten path; without notify_path it uses the request URI as received.
func TestWebhookNotifyPathBehindStripPrefix(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{
		Site:    "\turi strip_prefix /shop",
		Webhook: "\t\tnotify_path    /shop/antom/notify",
	})
	outside := s.Base + "/shop" + whNotifyPath
	body := whBody("PREFIX0001")
	status, h, resp := postNotification(t, outside, whClientID, body)
	whRequireAck(t, "notification through strip_prefix", status, h, resp)
	whWaitDelivered(t, s.app, []string{whEventID(t, body)})

	// Signed over the inner (rewritten) path: not what Antom signs, refused.
	inner := whBody("PREFIX0002")
	hdr := signNotification(t, whNotifyPath, whClientID, "", inner)
	if status, _, resp := httpDo(t, http.MethodPost, outside, hdr, inner); status != http.StatusUnauthorized || !strings.Contains(string(resp), "bad_signature") {
		t.Errorf("signed over the rewritten path: HTTP %d %s, want 401 bad_signature", status, resp)
	}

	// Without notify_path: the original request URI (before strip_prefix) is what is verified.
	s2 := whStart(t, whConf{Site: "\turi strip_prefix /shop"})
	body2 := whBody("PREFIX0003")
	status, h, resp = postNotification(t, s2.Base+"/shop"+whNotifyPath, whClientID, body2)
	whRequireAck(t, "notification through strip_prefix without notify_path", status, h, resp)
	whWaitDelivered(t, s2.app, []string{whEventID(t, body2)})
	whCheckDeliveries(t, s.app, map[string][]byte{whEventID(t, body): body}, true)
}

// The PHP snippet in examples/verify verifies a real delivery captured by the fake app, and
// refuses it with a changed body or the wrong secret.
func TestWebhookPHPSnippetVerifiesDelivery(t *testing.T) {
	t.Parallel()
	php := requireTool(t, "php")
	s := whStart(t, whConf{})
	body := whBody("PHP0000001")
	id := whEventID(t, body)
	s.whNotify(body)
	r := s.app.WaitRequests(1, whWait)[0]
	if !bytes.Equal(r.Body, body) || r.Header.Get("webhook-id") != id {
		t.Fatalf("unexpected delivery: %s %q", r.Header.Get("webhook-id"), r.Body)
	}

	snippet := newPHPSnippet(t, php)
	getallheaders := map[string]string{} // as getallheaders() gives them
	server := map[string]string{}        // as $_SERVER has them
	for k := range r.Header {
		getallheaders[k] = r.Header.Get(k)
		server["HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = r.Header.Get(k)
	}
	run := snippet.verify

	if res := run(whSecret(), getallheaders, r.Body); !res.OK || res.ID != id {
		t.Errorf("getallheaders()-style headers: %+v, want ok with id %s", res, id)
	}
	if res := run(whSecret(), server, r.Body); !res.OK || res.ID != id {
		t.Errorf("$_SERVER-style headers: %+v, want ok with id %s", res, id)
	}
	if res := run(whSecret(), getallheaders, append(append([]byte(nil), r.Body...), ' ')); res.OK || res.Status != 401 {
		t.Errorf("changed body: %+v, want refused with 401", res)
	}
	wrong := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret, not the real one"))
	if res := run(wrong, getallheaders, r.Body); res.OK || res.Status != 401 {
		t.Errorf("wrong secret: %+v, want refused with 401", res)
	}
}

// phpSnippet runs examples/verify/standard_webhooks.php's antom_verify_event under php-cli.
type phpSnippet struct {
	t        testing.TB
	php, dir string
}

// phpResult is what antom_verify_event returns.
type phpResult struct {
	OK     bool   `json:"ok"`
	ID     string `json:"id"`
	Status int    `json:"status"`
	Reason string `json:"reason"`
}

func newPHPSnippet(t testing.TB, php string) *phpSnippet {
	t.Helper()
	s := &phpSnippet{t: t, php: php, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(s.dir, "verify.php"), []byte(`<?php
require $argv[1];
$headers = json_decode(file_get_contents($argv[2]), true);
$body = file_get_contents($argv[3]);
echo json_encode(antom_verify_event(json_decode($argv[4], true), $headers, $body)), "\n";
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// verify calls antom_verify_event(secret, headers, body); secret is a string or a []string.
func (s *phpSnippet) verify(secret any, headers map[string]string, body []byte) phpResult {
	t := s.t
	t.Helper()
	hj, _ := json.Marshal(headers)
	sj, _ := json.Marshal(secret)
	hf, bf := filepath.Join(s.dir, "headers.json"), filepath.Join(s.dir, "body.bin")
	if err := os.WriteFile(hf, hj, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bf, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, s.php, filepath.Join(s.dir, "verify.php"),
		filepath.Join(repoRoot, "examples", "verify", "standard_webhooks.php"), hf, bf, string(sj))
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	var res phpResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("php printed %q: %v", out, err)
	}
	return res
}

// Secret rotation: with forward_secret given twice, every delivery carries one signature per
// secret, so an app verifying with the old secret, with the new one, or with both (the PHP
// snippet given a list) accepts it, and one with an unrelated secret does not.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	requireNodeModules(t)
	php := requireTool(t, "php")
	newSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("the next e2e forward secret, rotated in"))
	s := whStartWith(t, whConf{Webhook: "\t\tforward_secret {env.ANTOM_FORWARD_SECRET_NEW}"},
		caddyOpts{Env: map[string]string{"ANTOM_FORWARD_SECRET_NEW": newSecret}})
	body := whBody("ROT0000001")
	id := whEventID(t, body)
	s.whNotify(body)
	r := s.app.WaitRequests(1, whWait)[0]
	if r.Header.Get("webhook-id") != id {
		t.Fatalf("delivery of %q, want %s", r.Header.Get("webhook-id"), id)
	}
	if sigs := strings.Fields(r.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("webhook-signature %q, want two v1 signatures (one per forward_secret)", r.Header.Get("webhook-signature"))
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret, not the real one"))

	for name, secret := range map[string]string{"old": whSecret(), "new": newSecret} {
		if err := verifyStandardWebhook(t, secret, r.Header, r.Body); err != nil {
			t.Errorf("the standardwebhooks package with the %s secret refuses the delivery: %v", name, err)
		}
	}
	if err := verifyStandardWebhook(t, other, r.Header, r.Body); err == nil {
		t.Error("the standardwebhooks package accepts the delivery with an unrelated secret")
	}

	snippet := newPHPSnippet(t, php)
	headers := map[string]string{}
	for k := range r.Header {
		headers[k] = r.Header.Get(k)
	}
	for i, secret := range []any{whSecret(), newSecret, []string{newSecret, whSecret()}, []string{other, newSecret}} {
		if res := snippet.verify(secret, headers, r.Body); !res.OK || res.ID != id {
			t.Errorf("PHP snippet with secret(s) case %d: %+v, want ok with id %s", i, res, id)
		}
	}
	if res := snippet.verify([]string{other}, headers, r.Body); res.OK || res.Status != 401 {
		t.Errorf("PHP snippet with only an unrelated secret: %+v, want refused with 401", res)
	}

	// Neither secret reaches the log or the adapted config.
	logs, config := s.p.Logs(), string(s.p.AdminGet("/config/"))
	for _, secret := range []string{whSecret(), newSecret} {
		if b64 := strings.TrimPrefix(secret, "whsec_"); strings.Contains(logs, b64) || strings.Contains(config, b64) {
			t.Errorf("a forward secret leaked into the log or the config")
		}
	}
}

// runCmd runs a program with a timeout and returns its stdout (stderr goes into the error).
func runCmd(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w; stderr: %s", name, err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}
