package e2e

// End-to-end tests of reconciliation (`antom_api { reconcile }`), through the real caddy binary
// against the offline simulator, with Antom's notifications dropped so that only
// inquiryPayment can tell Caddy the result:
//
//   - a paid payment reaches the app as paid, shaped like the PAYMENT_RESULT notification, with
//     Antom-Event-Source: inquiry, a valid Standard Webhooks signature and the webhook-id the
//     notification would have had; the real notification arriving afterwards is acknowledged to
//     Antom and not delivered again;
//   - an unpaid payment reaches the app as failed after its expiry; Caddy never cancels a
//     payment Antom closed itself, cancels one a signed inquiry still reports PROCESSING past its
//     expiry only with cancel_unpaid, and never without;
//   - a SIGKILL mid-reconciliation loses nothing: after the restart on the same storage the
//     payments still reach the app by inquiry.
//
// Some tests run the simulator in caddy (one process, like the demo); the others run it in this
// test process (simulator.New behind an httptest server that records every gateway call), so
// that it can outlive a killed caddy or run on a skewed clock.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/simulator"
)

// rcWait bounds every wait for a delivery or a state change: generous, for a loaded 2-core
// machine (after a SIGKILL the storage lock must go stale before the restarted caddy leads).
const rcWait = 90 * time.Second

// rcSecretKey is the forward secret's key (32 bytes).
var rcSecretKey = []byte("caddy-antom e2e reconcile secret")

// rcSecret is the forward secret as configured: whsec_<base64>.
func rcSecret() string { return "whsec_" + base64.StdEncoding.EncodeToString(rcSecretKey) }

// rcAntomZone is the offset Antom writes its date-times in.
var rcAntomZone = time.FixedZone("", 8*3600)

// rcISO formats t like Antom: ISO-8601 with a numeric offset, whole seconds.
func rcISO(t time.Time) string { return t.In(rcAntomZone).Format(time.RFC3339) }

// rcOpts describes one caddy under test.
type rcOpts struct {
	// Reconcile is the body of the `reconcile` block, one setting a line.
	Reconcile string
	// Gateway is the Antom gateway; "" serves the simulator (drop_notifications on) in the
	// same caddy.
	Gateway string
	// API is extra lines in the antom_api block.
	API string
	// Site is extra lines in the antom_api's and the antom_webhook's sites.
	Site string
	// Webhook is extra lines in the antom_webhook block.
	Webhook string
	// Env is extra environment for caddy.
	Env map[string]string
	// Global is extra lines in the global options (e.g. "\tdebug", which logs Caddy events).
	Global string
}

// rcStack is one caddy with an antom profile, antom_api with `reconcile`, an antom_webhook
// forwarding to a fake app, and (unless a gateway was given) the simulator.
type rcStack struct {
	p      *caddyProc
	app    *fakeApp
	api    string // antom_api base URL
	notify string // the notify URL (antom_webhook)
	sim    string // the simulator's base URL
}

// rcStart starts the fake app and the caddy of a stack.
func rcStart(t testing.TB, o rcOpts) *rcStack {
	t.Helper()
	app := newFakeApp(t)
	whPort, apiPort := freePort(t), freePort(t)
	s := &rcStack{
		app:    app,
		api:    fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		notify: fmt.Sprintf("http://127.0.0.1:%d/antom/notify", whPort),
		sim:    o.Gateway,
	}
	var simSite string
	if s.sim == "" {
		simPort := freePort(t)
		s.sim = fmt.Sprintf("http://127.0.0.1:%d", simPort)
		simSite = fmt.Sprintf(`http://127.0.0.1:%d {
	antom_simulator {
		private_key         {env.SIM_KEY}
		merchant_public_key {env.MERCHANT_PUBLIC_KEY} %s
		drop_notifications
	}
}
`, simPort, apiClientID)
	}
	var rec strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(o.Reconcile), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			rec.WriteString("\t\t\t" + l + "\n")
		}
	}
	webhook := fmt.Sprintf(`http://127.0.0.1:%d {
%s
	antom_webhook /antom/notify {
		forward        %s/events
		forward_secret {env.ANTOM_FORWARD_SECRET}
		sync_timeout   2s
		max_age        5m
		%s
	}
}
`, whPort, o.Site, app.URL, o.Webhook)
	api := fmt.Sprintf(`http://127.0.0.1:%d {
%s
	antom_api {
		notify_url %s
		%s
		reconcile {
%s		}
	}
}
`, apiPort, o.Site, s.notify, o.API, rec.String())
	env := apiEnv(t)
	env["ANTOM_FORWARD_SECRET"] = rcSecret()
	for k, v := range o.Env {
		env[k] = v
	}
	conf := apiConfig(o.Global+"\n"+apiProfile("", apiClientID, s.sim, ""), simSite, webhook, api)
	s.p = startCaddyWith(t, caddyOpts{Caddyfile: conf, Env: env, Name: "caddy (" + t.Name() + ")"})
	return s
}

// start calls createPaymentSession or pay through antom_api and returns Antom's answer; a
// refusal fails the test.
func (s *rcStack) start(t testing.TB, api string, req map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	status, h, body := apiCall(t, s.api+"/antom/v1/payments/"+api, raw)
	if status != http.StatusOK || h.Get("signature") == "" {
		t.Fatalf("%s: HTTP %d, signature %q: %s", api, status, h.Get("signature"), body)
	}
	r := apiResult(t, body)
	if r.ResultStatus != "S" && !(api == "pay" && r.ResultCode == "PAYMENT_IN_PROCESS") {
		t.Fatalf("%s: Antom did not accept the payment: %s", api, body)
	}
	return body
}

// payments lists caddy's reconciliation records in a state (pending or done).
func (s *rcStack) payments(t testing.TB, state string) []outbox.Payment {
	t.Helper()
	var ps []outbox.Payment
	s.p.AdminGetJSON("/antom/payments?state="+state, &ps)
	return ps
}

// payment returns caddy's record of the payment with this paymentRequestId in a state (not
// the record of its automatic capture, which names it too).
func (s *rcStack) payment(t testing.TB, state, ref string) (outbox.Payment, bool) {
	t.Helper()
	for _, p := range s.payments(t, state) {
		if p.PaymentRequestID == ref && p.Kind == outbox.RecordPayment { // not its automatic capture
			return p, true
		}
	}
	return outbox.Payment{}, false
}

// waitDone waits until caddy's record of the payment is done and returns it.
func (s *rcStack) waitDone(t testing.TB, ref string) outbox.Payment {
	t.Helper()
	var p outbox.Payment
	waitFor(t, rcWait, "payment "+ref+" reconciled (GET /antom/payments?state=done)", func() bool {
		var ok bool
		p, ok = s.payment(t, "done", ref)
		return ok
	})
	return p
}

// waitRecord waits until caddy's record of kind whose field is id is done and returns it.
func (s *rcStack) waitRecord(t testing.TB, kind, field, id string) outbox.Payment {
	t.Helper()
	var p outbox.Payment
	waitFor(t, rcWait, "the "+kind+" record of "+field+" "+id+" done", func() bool {
		var ok bool
		p, ok = s.record(t, "done", kind, field, id)
		return ok
	})
	return p
}

// rcSession is a createPaymentSession request for the cashier, without paymentNotifyUrl
// (antom_api fills it in).
func rcSession(ref, value string) map[string]any {
	return map[string]any{
		"productCode":        "CASHIER_PAYMENT",
		"paymentRequestId":   ref,
		"paymentAmount":      map[string]string{"currency": "USD", "value": value},
		"order":              map[string]any{"referenceOrderId": "order-" + ref, "orderDescription": "e2e reconcile"},
		"paymentRedirectUrl": "https://shop.example/return",
	}
}

// rcPay is a cashier pay request, without paymentNotifyUrl.
func rcPay(ref, value string) map[string]any {
	return map[string]any{
		"productCode":        "CASHIER_PAYMENT",
		"paymentRequestId":   ref,
		"paymentAmount":      map[string]string{"currency": "USD", "value": value},
		"order":              map[string]any{"referenceOrderId": "order-" + ref, "orderDescription": "e2e reconcile"},
		"paymentMethod":      map[string]string{"paymentMethodType": "ALIPAY_HK"},
		"paymentRedirectUrl": "https://shop.example/return",
	}
}

// rcSimPayment is the simulator's view of a payment (GET /simulator/payments/<ref>).
func rcSimPayment(t testing.TB, sim, ref string) simulator.Payment {
	t.Helper()
	status, _, body := httpDo(t, http.MethodGet, sim+"/simulator/payments/"+ref, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /simulator/payments/%s: HTTP %d %s", ref, status, body)
	}
	var p simulator.Payment
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET /simulator/payments/%s: %v: %s", ref, err, body)
	}
	return p
}

// rcBuyer acts as the buyer through the simulator's control endpoint and returns the paymentId.
func rcBuyer(t testing.TB, sim, ref, action, wantStatus string) string {
	t.Helper()
	status, _, body := httpDo(t, http.MethodPost, sim+"/simulator/payments/"+ref+"/"+action, nil, nil)
	if status != http.StatusOK || apiField(t, body, "paymentStatus") != wantStatus {
		t.Fatalf("POST /simulator/payments/%s/%s: HTTP %d %s; want paymentStatus %s", ref, action, status, body, wantStatus)
	}
	return apiField(t, body, "paymentId")
}

// rcDropped returns the simulator's PAYMENT_RESULT notification of a payment, which the drop
// switch kept from being sent: what Antom would have posted.
func rcDropped(t testing.TB, sim, paymentID string) simulator.Notification {
	t.Helper()
	var found *simulator.Notification
	waitFor(t, rcWait, "the simulator's PAYMENT_RESULT for "+paymentID, func() bool {
		status, _, body := httpDo(t, http.MethodGet, sim+"/simulator/notifications", nil, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /simulator/notifications: HTTP %d %s", status, body)
		}
		var list struct {
			Notifications []simulator.Notification `json:"notifications"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("GET /simulator/notifications: %v", err)
		}
		for _, n := range list.Notifications {
			if n.Type == "PAYMENT_RESULT" && n.PaymentID == paymentID {
				found = &n
				return true
			}
		}
		return false
	})
	if found.State != "dropped" || len(found.Attempts) != 0 {
		t.Fatalf("the simulator's notification is %s with %d attempt(s); want dropped, never sent (drop_notifications)", found.State, len(found.Attempts))
	}
	return *found
}

// rcWebhookID is the webhook-id of a payment's PAYMENT_RESULT: the id antom_webhook gives the
// notification (derived from the paymentId).
func rcWebhookID(paymentID string) string {
	return outbox.EventID("default", antom.PaymentResultDedupKey(paymentID))
}

// rcJSON decodes a JSON object for comparison.
func rcJSON(t testing.TB, what string, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not a JSON object (%v): %s", what, err, b)
	}
	return m
}

// rcCheckSignature verifies a delivery's Standard Webhooks signature: here, with HMAC-SHA256
// over id.timestamp.body, and with the standardwebhooks npm package.
func rcCheckSignature(t testing.TB, r recordedRequest) {
	t.Helper()
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q is not a Unix time", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d < -time.Minute || d > 5*time.Minute {
		t.Errorf("webhook-timestamp %s is %s away from now", ts, d)
	}
	mac := hmac.New(sha256.New, rcSecretKey)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(r.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, s := range strings.Fields(sigs) {
		ok = ok || hmac.Equal([]byte(s), []byte(want))
	}
	if !ok {
		t.Errorf("webhook-signature %q does not verify with the forward secret (want %s)", sigs, want)
	}
	if err := verifyStandardWebhook(t, rcSecret(), r.Header, r.Body); err != nil {
		t.Errorf("the standardwebhooks library refuses the delivery: %v", err)
	}
}

// rcCheckInquiryDelivery checks what the app received for a payment whose result was found by
// inquiry: a POST to the forward URL with the PAYMENT_RESULT headers, Antom-Event-Source:
// inquiry, the notification's webhook-id and a valid signature. It returns the decoded body.
func rcCheckInquiryDelivery(t testing.TB, r recordedRequest, ref, paymentID, resultStatus string) map[string]any {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != "/events" {
		t.Errorf("app got %s %s, want POST /events", r.Method, r.Path)
	}
	want := map[string]string{
		"Antom-Event-Source":     "inquiry",
		"Antom-Event-Kind":       "payment",
		"Antom-Event-Type":       "PAYMENT_RESULT",
		"Antom-Result-Status":    resultStatus,
		"Antom-Profile":          "default",
		"Antom-Request-Id-Field": "paymentRequestId",
		"Antom-Request-Id":       ref,
		"Antom-Attempt":          "1",
	}
	if paymentID != "" {
		want["webhook-id"] = rcWebhookID(paymentID)
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("delivery header %s: %q, want %q", k, got, v)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("delivery Content-Type %q, want JSON", ct)
	}
	rcCheckSignature(t, r)
	body := rcJSON(t, "the delivered body", r.Body)
	res, _ := body["result"].(map[string]any)
	if body["notifyType"] != "PAYMENT_RESULT" || res == nil || res["resultStatus"] != resultStatus || body["paymentRequestId"] != ref {
		t.Errorf("delivered body is not a PAYMENT_RESULT %s for %s: %s", resultStatus, ref, r.Body)
	}
	if paymentID != "" && body["paymentId"] != paymentID {
		t.Errorf("delivered paymentId %v, want %s", body["paymentId"], paymentID)
	}
	for _, k := range []string{"paymentStatus", "paymentResultCode", "paymentResultMessage", "transactions"} {
		if _, ok := body[k]; ok {
			t.Errorf("delivered body has the inquiry-only field %q, which no PAYMENT_RESULT notification has: %s", k, r.Body)
		}
	}
	return body
}

// A paid payment whose notification is lost reaches the app through reconciliation, as paid,
// shaped exactly like the notification and under its webhook-id; when Antom's notification
// arrives afterwards, Antom gets its SUCCESS and the app nothing new.
func TestReconcilePaidPaymentReachesAppOnce(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m"})
	ref := apiUnique("rc-paid")
	s.start(t, "createPaymentSession", rcSession(ref, "1000"))
	if p, ok := s.payment(t, "pending", ref); !ok || p.Amount.Value != "1000" || p.ExpiresAt.IsZero() {
		t.Fatalf("createPaymentSession was not recorded for reconciliation (pending: %+v)", s.payments(t, "pending"))
	}
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")

	r := s.app.WaitRequests(1, rcWait)[0]
	body := rcCheckInquiryDelivery(t, r, ref, paymentID, "S")
	if res := body["result"].(map[string]any); res["resultCode"] != "SUCCESS" {
		t.Errorf("delivered result %v, want SUCCESS", res)
	}

	// The notification Antom would have sent (the simulator dropped it): the app got the same
	// content, field for field.
	n := rcDropped(t, s.sim, paymentID)
	if n.URL != s.notify {
		t.Fatalf("the simulator's notification goes to %s, want the notify_url %s", n.URL, s.notify)
	}
	if want := rcJSON(t, "the notification", n.Body); !reflect.DeepEqual(body, want) {
		t.Errorf("the body found by inquiry differs from Antom's notification\n got: %s\nwant: %s", r.Body, n.Body)
	}

	p := s.waitDone(t, ref)
	if p.FinalStatus != "SUCCESS" || p.PaymentID != paymentID || p.Attempts < 1 {
		t.Errorf("caddy's record: %+v; want finalStatus SUCCESS, paymentId %s, inquired", p, paymentID)
	}

	// Antom's notification arrives after all (and once more, as Antom's retry): signed as Antom
	// signs it, the exact body. Antom gets the exact acknowledgement, the app nothing.
	u := s.notify[len("http://"):]
	path := u[strings.Index(u, "/"):]
	for i := 1; i <= 2; i++ {
		h := signNotification(t, path, apiClientID, rcISO(time.Now()), n.Body)
		status, _, ack := httpDo(t, http.MethodPost, s.notify, h, n.Body)
		if status != http.StatusOK || !bytes.Equal(ack, antom.AckBody) {
			t.Fatalf("late notification #%d: HTTP %d %q; want 200 %s", i, status, ack, antom.AckBody)
		}
	}
	s.app.Never(3 * time.Second)
	if n := s.app.Len(); n != 1 {
		t.Fatalf("the app received %d deliveries, want 1", n)
	}
	// It was recognised as the same event: the duplicate carries the delivered webhook-id.
	dups := 0
	for _, e := range s.p.LogEntries() {
		if strings.Contains(fmt.Sprint(e["msg"]), "duplicate notification") && e["webhook_id"] == r.Header.Get("webhook-id") {
			dups++
		}
	}
	if dups != 2 {
		t.Errorf("%d duplicate-notification log lines with webhook_id %s, want 2", dups, r.Header.Get("webhook-id"))
	}
	var delivered []struct {
		ID, Source, RequestID string
	}
	s.p.AdminGetJSON("/antom/events?state=delivered", &delivered)
	if len(delivered) != 1 || delivered[0].ID != r.Header.Get("webhook-id") || delivered[0].Source != "inquiry" {
		t.Errorf("delivered events %+v; want exactly the inquiry's", delivered)
	}
}

// A pay that ends in 504 U (Antom made the payment but did not answer within antom_api's
// timeout) is what reconciliation exists for: it is recorded, inquired about, and its final
// result reaches the app like the notification that never came.
func TestReconcileTimedOutPay(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m", API: "timeout 1s"})
	ref := apiUnique("rc-timeout")
	// Magic amount 4003: the simulator makes the payment and holds its answer back for 30s.
	raw, err := json.Marshal(rcPay(ref, "14003"))
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := apiCall(t, s.api+"/antom/v1/payments/pay", raw)
	if r := apiResult(t, body); status != http.StatusGatewayTimeout || r.ResultStatus != "U" {
		t.Fatalf("pay: HTTP %d %s; want 504 with result U", status, body)
	}
	if _, ok := s.payment(t, "pending", ref); !ok {
		t.Fatalf("the timed-out pay was not recorded for reconciliation (pending: %+v)", s.payments(t, "pending"))
	}
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")

	r := s.app.WaitRequests(1, rcWait)[0]
	rcCheckInquiryDelivery(t, r, ref, paymentID, "S")
	if p := s.waitDone(t, ref); p.FinalStatus != "SUCCESS" || p.PaymentID != paymentID {
		t.Errorf("caddy's record: %+v; want finalStatus SUCCESS, paymentId %s", p, paymentID)
	}
}

// The reverse order: the notification arrives before the first inquiry (the common case). The
// app gets it once, from the notification, and reconciliation finishes without delivering it
// again: for pay (whose answer names the paymentId) without any inquiry, for
// createPaymentSession (whose answer does not) with at most the one inquiry that finds the
// notification's paymentId.
func TestReconcileNotificationFirst(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 3s\ngive_up 2m"})
	status, _, body := httpDo(t, http.MethodPost, s.sim+"/simulator/drop_notifications", nil, []byte(`{"drop":false}`))
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"drop":false`)) {
		t.Fatalf("turning the drop switch off: HTTP %d %s", status, body)
	}
	for i, api := range []string{"createPaymentSession", "pay"} {
		ref := apiUnique("rc-notified-" + api)
		req := rcSession(ref, "1200")
		if api == "pay" {
			req = rcPay(ref, "1210")
		}
		s.start(t, api, req)
		paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")
		r := s.app.WaitRequests(i+1, rcWait)[i]
		if r.Header.Get("webhook-id") != rcWebhookID(paymentID) || r.Header.Get("Antom-Event-Source") != "notification" {
			t.Errorf("%s: delivered webhook-id %q from %q; want %q from the notification", api,
				r.Header.Get("webhook-id"), r.Header.Get("Antom-Event-Source"), rcWebhookID(paymentID))
		}
		p := s.waitDone(t, ref)
		maxInquiries := 1
		if api == "pay" {
			maxInquiries = 0
		}
		if p.FinalStatus != "SUCCESS" || p.Attempts > maxInquiries {
			t.Errorf("%s: caddy's record: %+v; want finalStatus SUCCESS after at most %d inquiries", api, p, maxInquiries)
		}
	}
	s.app.Never(3 * time.Second)
	if n := s.app.Len(); n != 2 {
		t.Fatalf("the app received %d deliveries, want 2", n)
	}
}

// A config reload mid-reconciliation (the simulator block unchanged, so it keeps its state)
// loses nothing: the new config's worker picks the payment up and delivers it by inquiry.
func TestReconcileSurvivesReload(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 4s\ngive_up 2m"})
	ref := apiUnique("rc-reload")
	s.start(t, "createPaymentSession", rcSession(ref, "1700"))
	conf, err := os.ReadFile(s.p.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := strings.Replace(string(conf), "give_up 2m", "give_up 3m", 1)
	if reloaded == string(conf) {
		t.Fatal("no give_up in the Caddyfile to change")
	}
	s.p.Reload(reloaded)
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")
	r := s.app.WaitRequests(1, rcWait)[0]
	rcCheckInquiryDelivery(t, r, ref, paymentID, "S")
	if p := s.waitDone(t, ref); p.FinalStatus != "SUCCESS" {
		t.Errorf("caddy's record: %+v; want finalStatus SUCCESS", p)
	}
	s.app.Never(2 * time.Second)
	if n := s.app.Len(); n != 1 {
		t.Fatalf("the app received %d deliveries, want 1", n)
	}
}

// A payment whose status stays unclear until give_up is given up: logged as an error, listed
// as done with finalStatus UNKNOWN, and nothing is delivered (the result is never guessed).
func TestReconcileGivesUp(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 6s"})
	ref := apiUnique("rc-giveup")
	s.start(t, "createPaymentSession", rcSession(ref, "1800")) // expires in 14 minutes
	p := s.waitDone(t, ref)
	if p.FinalStatus != "UNKNOWN" || p.Attempts < 2 {
		t.Errorf("caddy's record: %+v; want finalStatus UNKNOWN after several inquiries", p)
	}
	if d := p.CreatedAt.Add(6 * time.Second); time.Now().Before(d) {
		t.Errorf("given up before give_up passed (%s)", d)
	}
	if !strings.Contains(s.p.Logs(), "giving up on a payment") {
		t.Errorf("no error logged for the payment given up")
	}
	s.app.Never(2 * time.Second)
	if n := s.app.Len(); n != 0 {
		t.Fatalf("the app received %d deliveries for a payment of unknown result", n)
	}
	if sp := rcSimPayment(t, s.sim, ref); sp.Status != "PROCESSING" {
		t.Errorf("simulator: payment %s, want PROCESSING (never cancelled)", sp.Status)
	}
}

// A payment the buyer never completes reaches the app as failed after its expiry. Antom (the
// simulator, on the same clock) closes it itself at expiry, so even with cancel_unpaid Caddy
// does not cancel it: cancel_unpaid is only for a payment a signed inquiry still reports unpaid.
func TestReconcileExpiredUnpaidPayment(t *testing.T) {
	t.Parallel()
	for _, cancelUnpaid := range []bool{false, true} {
		name := "cancel_unpaid off"
		conf := "after 1s\ngive_up 2m"
		if cancelUnpaid {
			name, conf = "cancel_unpaid on", conf+"\ncancel_unpaid"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := rcStart(t, rcOpts{Reconcile: conf})
			ref := apiUnique("rc-expired")
			expiry := rcISO(time.Now().Add(6 * time.Second))
			req := rcSession(ref, "1300")
			req["paymentSessionExpiryTime"] = expiry
			s.start(t, "createPaymentSession", req)
			expiresAt, _ := time.Parse(time.RFC3339, expiry)
			if p, ok := s.payment(t, "pending", ref); !ok || !p.ExpiresAt.Equal(expiresAt) {
				t.Fatalf("recorded %+v (found %v); want expiresAt %s", p, ok, expiry)
			}

			r := s.app.WaitRequests(1, rcWait)[0]
			if r.At.Before(expiresAt) {
				t.Errorf("the app learnt of a failure at %s, before the payment expired at %s", r.At, expiresAt)
			}
			sp := rcSimPayment(t, s.sim, ref)
			body := rcCheckInquiryDelivery(t, r, ref, sp.PaymentID, "F")
			if res := body["result"].(map[string]any); res["resultCode"] != "ORDER_IS_CLOSED" {
				t.Errorf("delivered result %v, want ORDER_IS_CLOSED", res)
			}
			if _, paid := body["paymentTime"]; paid {
				t.Errorf("an unpaid payment delivered with a paymentTime: %s", r.Body)
			}
			// Closed by expiry at Antom, never cancelled by Caddy.
			if sp.Status != "FAIL" || !strings.Contains(sp.ResultMessage, "expired") {
				t.Fatalf("simulator: %s %s %q; want FAIL, closed by its expiry (not cancelled)", sp.Status, sp.ResultCode, sp.ResultMessage)
			}
			n := rcDropped(t, s.sim, sp.PaymentID)
			if want := rcJSON(t, "the notification", n.Body); !reflect.DeepEqual(body, want) {
				t.Errorf("the body found by inquiry differs from Antom's notification\n got: %s\nwant: %s", r.Body, n.Body)
			}

			p := s.waitDone(t, ref)
			if p.FinalStatus != "FAIL" {
				t.Errorf("caddy's record: %+v; want finalStatus FAIL", p)
			}
			s.app.Never(2 * time.Second)
			if strings.Contains(s.p.Logs(), "cancelled an unpaid payment") {
				t.Errorf("caddy called cancel for a payment Antom had closed")
			}
			if sp := rcSimPayment(t, s.sim, ref); sp.Status != "FAIL" {
				t.Errorf("simulator: payment %s afterwards, want FAIL", sp.Status)
			}
		})
	}
}

// rcSimCall is one gateway call the in-process simulator received.
type rcSimCall struct {
	API              string // inquiryPayment, cancel, ...
	PaymentRequestID string
	At               time.Time
	Answer           []byte
}

// rcSim is the simulator in this test process, behind a recorder of gateway calls. It outlives
// the caddy processes of a test, and its clock can run behind Caddy's.
type rcSim struct {
	*simulator.Simulator
	URL string

	mu    sync.Mutex
	calls []rcSimCall
}

// rcStartSim starts the simulator with the golden keys and notifications dropped; its clock
// runs lag behind the real one.
func rcStartSim(t testing.TB, lag time.Duration) *rcSim {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		Key:               antomSigner(t),
		Merchants:         []simulator.Merchant{{ClientID: apiClientID, PublicKey: apiParsePublicKey(t, merchantPublicKey(t))}},
		DropNotifications: true,
		Now:               func() time.Time { return time.Now().Add(-lag) },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &rcSim{Simulator: sim}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix = "/ams/api/v1/payments/"
		if !strings.HasPrefix(r.URL.Path, prefix) {
			sim.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		var ref struct {
			PaymentRequestID string `json:"paymentRequestId"`
		}
		_ = json.Unmarshal(body, &ref)
		s.mu.Lock()
		s.calls = append(s.calls, rcSimCall{API: strings.TrimPrefix(r.URL.Path, prefix), PaymentRequestID: ref.PaymentRequestID, At: time.Now(), Answer: rec.Body.Bytes()})
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	s.URL = srv.URL
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	return s
}

// Calls returns the gateway calls of one API about one payment, in order.
func (s *rcSim) Calls(api, ref string) []rcSimCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rcSimCall
	for _, c := range s.calls {
		if c.API == api && c.PaymentRequestID == ref {
			out = append(out, c)
		}
	}
	return out
}

// A payment still unpaid at Antom past its expiry (Antom's clock runs behind Caddy's, so its
// signed inquiry answers PROCESSING after Caddy's expiry plus margin): with cancel_unpaid, Caddy
// cancels it and the app gets the CANCELLED payment's failed PAYMENT_RESULT; without, nothing is
// cancelled and the payment stays pending.
func TestReconcileCancelUnpaid(t *testing.T) {
	t.Parallel()
	for _, cancelUnpaid := range []bool{true, false} {
		name := "cancel_unpaid off"
		conf := "after 1s\ngive_up 2m"
		if cancelUnpaid {
			name, conf = "cancel_unpaid on", conf+"\ncancel_unpaid"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim := rcStartSim(t, time.Minute)
			s := rcStart(t, rcOpts{Reconcile: conf, Gateway: sim.URL})
			ref := apiUnique("rc-unpaid")
			expiry := rcISO(time.Now().Add(6 * time.Second))
			req := rcPay(ref, "1400")
			req["paymentExpiryTime"] = expiry
			s.start(t, "pay", req)
			expiresAt, _ := time.Parse(time.RFC3339, expiry)

			// An inquiry after Caddy's expiry plus margin that Antom answered PROCESSING: the
			// payment is unpaid past its expiry.
			unpaidPastExpiry := func() bool {
				for _, c := range sim.Calls("inquiryPayment", ref) {
					if !c.At.Before(expiresAt.Add(5*time.Second)) && bytes.Contains(c.Answer, []byte(`"paymentStatus":"PROCESSING"`)) {
						return true
					}
				}
				return false
			}

			if !cancelUnpaid {
				waitFor(t, rcWait, "an inquiry past the expiry answered PROCESSING", unpaidPastExpiry)
				time.Sleep(3 * time.Second) // time enough for a cancel that should not come
				if c := sim.Calls("cancel", ref); len(c) != 0 {
					t.Fatalf("cancel_unpaid is off, yet Caddy called cancel %d time(s)", len(c))
				}
				if sp, _ := sim.Payment(ref); sp.Status != "PROCESSING" {
					t.Errorf("simulator: payment %s, want PROCESSING (not cancelled)", sp.Status)
				}
				if n := s.app.Len(); n != 0 {
					t.Errorf("the app received %d deliveries for a payment still unpaid", n)
				}
				if p, ok := s.payment(t, "pending", ref); !ok || p.Attempts < 1 {
					t.Errorf("caddy's record %+v (pending: %v); want pending, inquired", p, ok)
				}
				if strings.Contains(s.p.Logs(), "cancelled an unpaid payment") {
					t.Errorf("caddy logged a cancellation with cancel_unpaid off")
				}
				return
			}

			r := s.app.WaitRequests(1, rcWait)[0]
			cancels := sim.Calls("cancel", ref)
			if len(cancels) != 1 {
				t.Fatalf("Caddy called cancel %d times, want once", len(cancels))
			}
			if cancels[0].At.Before(expiresAt) {
				t.Errorf("cancel called at %s, before the payment's expiry %s", cancels[0].At, expiresAt)
			}
			if !unpaidPastExpiry() {
				t.Errorf("Caddy cancelled without a signed inquiry past the expiry answering PROCESSING first")
			}
			if r := apiResult(t, cancels[0].Answer); r.ResultStatus != "S" {
				t.Errorf("the simulator refused the cancel: %s", cancels[0].Answer)
			}
			sp, _ := sim.Payment(ref)
			if sp.Status != "CANCELLED" {
				t.Errorf("simulator: payment %s %q, want CANCELLED by the merchant", sp.Status, sp.ResultMessage)
			}
			body := rcCheckInquiryDelivery(t, r, ref, sp.PaymentID, "F")
			if res := body["result"].(map[string]any); res["resultCode"] != "ORDER_IS_CLOSED" {
				t.Errorf("delivered result %v, want ORDER_IS_CLOSED", res)
			}
			if r.At.Before(cancels[0].At) {
				t.Errorf("the app learnt the result before the cancel")
			}
			p := s.waitDone(t, ref)
			if p.FinalStatus != "CANCELLED" {
				t.Errorf("caddy's record: %+v; want finalStatus CANCELLED", p)
			}
			s.app.Never(2 * time.Second)
			if n := len(sim.Calls("cancel", ref)); n != 1 {
				t.Errorf("cancel called %d times in all, want once", n)
			}
		})
	}
}

// A SIGKILL mid-reconciliation loses nothing: one payment already inquired about (unpaid at
// the time), one paid but not yet inquired about; the buyer pays the first while Caddy is down.
// After a restart on the same storage both reach the app by inquiry, once each. The simulator
// runs in this process, so it outlives the killed caddy.
func TestReconcileSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	const after = 6 * time.Second
	sim := rcStartSim(t, 0)
	s := rcStart(t, rcOpts{Reconcile: "after 6s\ngive_up 2m", Gateway: sim.URL})

	early := apiUnique("rc-kill-early")
	s.start(t, "createPaymentSession", rcSession(early, "1500"))
	waitFor(t, rcWait, "caddy's record of the first inquiry about "+early, func() bool {
		p, ok := s.payment(t, "pending", early)
		return ok && p.Attempts >= 1
	})
	if n := len(sim.Calls("inquiryPayment", early)); n < 1 {
		t.Fatalf("caddy recorded an inquiry about %s that the simulator never received", early)
	}

	late := apiUnique("rc-kill-late")
	started := time.Now()
	s.start(t, "createPaymentSession", rcSession(late, "1600"))
	if _, err := sim.Act(late, simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}
	s.p.Kill()
	killed := time.Now()
	if n := len(sim.Calls("inquiryPayment", late)); n != 0 || killed.Sub(started) >= after {
		t.Fatalf("caddy inquired %d time(s) about %s within %s, before it was killed: the machine is too slow for this test's `after`", n, late, killed.Sub(started))
	}
	if n := s.app.Len(); n != 0 {
		t.Fatalf("the app received %d deliveries before the kill", n)
	}

	// The buyer pays the first payment while Caddy is down; the notifications are lost.
	if _, err := sim.Act(early, simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}
	s.p.Restart()
	restarted := time.Now()

	reqs := s.app.WaitRequests(2, rcWait)
	byRef := map[string]recordedRequest{}
	for _, r := range reqs {
		byRef[r.Header.Get("Antom-Request-Id")] = r
	}
	for _, ref := range []string{early, late} {
		r, ok := byRef[ref]
		if !ok {
			t.Errorf("no delivery for %s", ref)
			continue
		}
		sp, _ := sim.Payment(ref)
		rcCheckInquiryDelivery(t, r, ref, sp.PaymentID, "S")
		if r.At.Before(restarted) {
			t.Errorf("%s delivered at %s, before the restart", ref, r.At)
		}
		if p := s.waitDone(t, ref); p.FinalStatus != "SUCCESS" {
			t.Errorf("caddy's record of %s: %+v; want finalStatus SUCCESS", ref, p)
		}
		inq := sim.Calls("inquiryPayment", ref)
		if len(inq) == 0 || inq[len(inq)-1].At.Before(restarted) {
			t.Errorf("%s: no inquiry after the restart (%d in all)", ref, len(inq))
		}
	}
	s.app.Never(3 * time.Second)
	if n := s.app.Len(); n != 2 {
		t.Fatalf("the app received %d deliveries, want 2", n)
	}
}
