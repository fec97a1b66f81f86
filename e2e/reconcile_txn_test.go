package e2e

// Reconciliation of refunds and captures through the real binary: the simulator drops only
// REFUND_RESULT and CAPTURE_RESULT (the payment results arrive as notifications), and Caddy
// finds the refund's and the capture's outcome by inquiryRefund and inquiryPayment.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/simulator"
)

// rcDropOnly limits the simulator's drop switch to the given notifyTypes.
func (s *rcStack) dropOnly(t testing.TB, types ...string) {
	t.Helper()
	req, err := json.Marshal(map[string]any{"drop": true, "types": types})
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := httpDo(t, http.MethodPost, s.sim+"/simulator/drop_notifications", nil, req)
	if status != http.StatusOK || !bytes.Contains(body, []byte(types[0])) {
		t.Fatalf("limiting the drop switch to %v: HTTP %d %s", types, status, body)
	}
}

// call calls an Antom API through antom_api and returns the HTTP status and Antom's answer.
func (s *rcStack) call(t testing.TB, api string, req map[string]any) (int, []byte) {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := apiCall(t, s.api+"/antom/v1/payments/"+api, raw)
	return status, body
}

// callOK is call for a call Antom must accept (HTTP 200, result S); it returns Antom's answer.
func (s *rcStack) callOK(t testing.TB, api string, req map[string]any) []byte {
	t.Helper()
	status, body := s.call(t, api, req)
	if status != http.StatusOK || apiResult(t, body).ResultStatus != "S" {
		t.Fatalf("%s: HTTP %d %s", api, status, body)
	}
	return body
}

// record returns caddy's reconciliation record in state whose field (refundRequestId,
// captureRequestId, paymentRequestId) is id and whose kind is kind.
func (s *rcStack) record(t testing.TB, state, kind, field, id string) (outbox.Payment, bool) {
	t.Helper()
	for _, p := range s.payments(t, state) {
		got := map[string]string{"refundRequestId": p.RefundRequestID, "captureRequestId": p.CaptureRequestID, "paymentRequestId": p.PaymentRequestID}[field]
		if p.Kind == kind && got == id {
			return p, true
		}
	}
	return outbox.Payment{}, false
}

// rcDroppedOf returns the simulator's dropped notification of type typ whose body names id.
func rcDroppedOf(t testing.TB, sim, typ, id string) simulator.Notification {
	t.Helper()
	var found *simulator.Notification
	waitFor(t, rcWait, "the simulator's "+typ+" naming "+id, func() bool {
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
			if n.Type == typ && bytes.Contains(n.Body, []byte(`"`+id+`"`)) {
				found = &n
				return true
			}
		}
		return false
	})
	if found.State != "dropped" || len(found.Attempts) != 0 {
		t.Fatalf("the simulator's %s is %s with %d attempt(s); want dropped, never sent", typ, found.State, len(found.Attempts))
	}
	return *found
}

// notInInquiry are the fields of a notification that no inquiry answer tells, so a result found
// by inquiry lacks them (README, Reconciliation): inquiryRefund has no refundCreateTime.
var notInInquiry = map[string]bool{"refundCreateTime": true}

// rcCheckTxnDelivery checks a REFUND_RESULT or CAPTURE_RESULT the app got by inquiry against
// the notification the simulator dropped: the notification's headers and webhook-id,
// Antom-Event-Source inquiry, a valid signature, and the same fields with the same values (but
// those notInInquiry).
func rcCheckTxnDelivery(t testing.TB, r recordedRequest, n simulator.Notification, reqField, reqID string) {
	t.Helper()
	parsed, err := antom.ParseNotification(n.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Antom-Event-Source":     "inquiry",
		"Antom-Event-Kind":       parsed.Kind,
		"Antom-Event-Type":       n.Type,
		"Antom-Result-Status":    "S",
		"Antom-Request-Id-Field": reqField,
		"Antom-Request-Id":       reqID,
		"webhook-id":             outbox.EventID("default", parsed.DedupKey),
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s delivery header %s: %q, want %q", n.Type, k, got, v)
		}
	}
	rcCheckSignature(t, r)
	got, note := rcJSON(t, "the delivered body", r.Body), rcJSON(t, "the notification", n.Body)
	for k, v := range got {
		if w, ok := note[k]; !ok {
			t.Errorf("delivered %s has field %s (%v), which the notification has not", n.Type, k, v)
		} else if !reflect.DeepEqual(v, w) {
			t.Errorf("delivered %s field %s: %v; the notification has %v", n.Type, k, v, w)
		}
	}
	for k, w := range note {
		if _, ok := got[k]; !ok && !notInInquiry[k] {
			t.Errorf("delivered %s lacks field %s; the notification has %v", n.Type, k, w)
		}
	}
}

// rcLate posts Antom's dropped notification after all, twice (Antom's retry), signed as Antom
// signs it: Antom gets its acknowledgement, the app nothing new.
func (s *rcStack) late(t testing.TB, n simulator.Notification) {
	t.Helper()
	u := s.notify[len("http://"):]
	path := u[strings.Index(u, "/"):]
	before := s.app.Len()
	for i := 1; i <= 2; i++ {
		h := signNotification(t, path, apiClientID, rcISO(time.Now()), n.Body)
		status, _, ack := httpDo(t, http.MethodPost, s.notify, h, n.Body)
		if status != http.StatusOK || !bytes.Equal(ack, antom.AckBody) {
			t.Fatalf("late %s #%d: HTTP %d %q; want 200 %s", n.Type, i, status, ack, antom.AckBody)
		}
	}
	s.app.Never(3 * time.Second)
	if got := s.app.Len(); got != before {
		t.Fatalf("the app received %d more deliveries after the late %s, want none", got-before, n.Type)
	}
}

// byType returns the app's deliveries of an Antom-Event-Type.
func byType(reqs []recordedRequest, typ string) []recordedRequest {
	var out []recordedRequest
	for _, r := range reqs {
		if r.Header.Get("Antom-Event-Type") == typ {
			out = append(out, r)
		}
	}
	return out
}

// A refund whose REFUND_RESULT is lost reaches the app once, by inquiryRefund, under the
// notification's webhook-id, after its payment's PAYMENT_RESULT; the notification arriving
// late is acknowledged and not delivered again. A refund Antom refused records nothing.
func TestReconcileRefundReachesAppOnce(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m"})
	s.dropOnly(t, "REFUND_RESULT", "CAPTURE_RESULT")
	ref := apiUnique("rc-refund")
	s.start(t, "createPaymentSession", rcSession(ref, "1000"))
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")
	if r := s.app.WaitRequests(1, rcWait)[0]; r.Header.Get("Antom-Event-Type") != "PAYMENT_RESULT" || r.Header.Get("Antom-Event-Source") != "notification" {
		t.Fatalf("first delivery %s from %s; want the PAYMENT_RESULT notification", r.Header.Get("Antom-Event-Type"), r.Header.Get("Antom-Event-Source"))
	}

	refused := apiUnique("rf-refused")
	status, body := s.call(t, "refund", map[string]any{"refundRequestId": refused, "paymentId": paymentID,
		"refundAmount": map[string]string{"currency": "USD", "value": "5000"}})
	if apiResult(t, body).ResultStatus != "F" {
		t.Fatalf("refund of more than was paid: HTTP %d %s; want F", status, body)
	}
	if _, ok := s.record(t, "pending", "refund", "refundRequestId", refused); ok {
		t.Errorf("a refused (F) refund was recorded for reconciliation")
	}

	rf := apiUnique("rf")
	body = s.callOK(t, "refund", map[string]any{"refundRequestId": rf, "paymentId": paymentID,
		"refundAmount": map[string]string{"currency": "USD", "value": "400"}})
	refundID := apiField(t, body, "refundId")
	if p, ok := s.record(t, "pending", "refund", "refundRequestId", rf); !ok || p.RefundID != refundID || p.PaymentID != paymentID {
		t.Fatalf("the refund was not recorded for reconciliation (pending: %+v)", s.payments(t, "pending"))
	}

	reqs := s.app.WaitRequests(2, rcWait)
	n := rcDroppedOf(t, s.sim, "REFUND_RESULT", refundID)
	rcCheckTxnDelivery(t, reqs[1], n, "refundRequestId", rf)
	p := s.waitRecord(t, "refund", "refundRequestId", rf)
	if p.FinalStatus != "SUCCESS" || p.Attempts < 1 {
		t.Errorf("refund record %+v; want SUCCESS after an inquiry", p)
	}
	s.late(t, n)
	if got := byType(s.app.Requests(), "REFUND_RESULT"); len(got) != 1 {
		t.Errorf("the app got %d REFUND_RESULT, want 1", len(got))
	}

	// The metrics count the refund's inquiry and its result found by inquiry, by kind.
	m := string(s.p.AdminGet("/metrics"))
	for _, want := range []string{`caddy_antom_inquiries_total{kind="refund",outcome="success"} 1`,
		`caddy_antom_payments_reconciled_total{by="inquiry",kind="refund",status="success"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The payment's timeline shows the refund's record and its inquiry.
	var tl outbox.Timeline
	s.p.AdminGetJSON("/antom/timeline?paymentRequestId="+ref, &tl)
	kinds, inquired := map[string]bool{}, false
	for _, r := range tl.Payments {
		kinds[r.Kind] = true
	}
	for _, e := range tl.Entries {
		inquired = inquired || (e.API == "v1/payments/inquiryRefund" && e.IDs["refundRequestId"] == rf)
	}
	if !kinds[""] || !kinds["refund"] || !inquired {
		t.Errorf("timeline records %v, inquiryRefund shown %v; want the payment's and the refund's records and the inquiry", kinds, inquired)
	}
}

// A refund whose call timed out (504: Antom made it but did not answer in time) is still
// followed, and its result reaches the app by inquiry.
func TestReconcileTimedOutRefund(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m", API: "timeout 1s"})
	s.dropOnly(t, "REFUND_RESULT")
	ref := apiUnique("rc-rf-timeout")
	s.start(t, "createPaymentSession", rcSession(ref, "20000"))
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")
	s.app.WaitRequests(1, rcWait)

	// Magic amount 4003: the simulator makes the refund and holds its answer back for 30s.
	rf := apiUnique("rf-timeout")
	status, body := s.call(t, "refund", map[string]any{"refundRequestId": rf, "paymentId": paymentID,
		"refundAmount": map[string]string{"currency": "USD", "value": "4003"}})
	if status != http.StatusGatewayTimeout || apiResult(t, body).ResultStatus != "U" {
		t.Fatalf("refund: HTTP %d %s; want 504 with result U", status, body)
	}
	if p, ok := s.record(t, "pending", "refund", "refundRequestId", rf); !ok || p.RefundID != "" {
		t.Fatalf("the timed-out refund was not recorded for reconciliation (pending: %+v)", s.payments(t, "pending"))
	}
	reqs := s.app.WaitRequests(2, rcWait)
	done := s.waitRecord(t, "refund", "refundRequestId", rf)
	rcCheckTxnDelivery(t, reqs[1], rcDroppedOf(t, s.sim, "REFUND_RESULT", done.RefundID), "refundRequestId", rf)
}

// rcCardPay is a card pay request the simulator authorises at once; captureMode "" leaves
// Antom's default (automatic capture).
func rcCardPay(ref, captureMode string) map[string]any {
	factor := map[string]any{"isAuthorization": true}
	if captureMode != "" {
		factor["captureMode"] = captureMode
	}
	return map[string]any{
		"productCode":      "CASHIER_PAYMENT",
		"paymentRequestId": ref,
		"paymentAmount":    map[string]string{"currency": "USD", "value": "3000"},
		"paymentMethod": map[string]any{
			"paymentMethodType": "CARD",
			"paymentMethodMetaData": map[string]any{
				"cardNo": "4111111111111111", "cvv": "123", "expiryMonth": "12", "expiryYear": "39",
				"cardholderName":      map[string]string{"firstName": "Tom", "lastName": "Jay"},
				"is3DSAuthentication": false,
			},
		},
		"paymentFactor":      factor,
		"paymentRedirectUrl": "https://shop.example/return",
		"order":              map[string]any{"referenceOrderId": "order-" + ref, "orderDescription": "e2e reconcile"},
		"env":                map[string]any{"terminalType": "WEB", "clientIp": "203.0.113.7"},
	}
}

// A manual capture and an automatic one whose CAPTURE_RESULT is lost each reach the app once,
// by inquiryPayment, after their payment's PAYMENT_RESULT; the late notification is not
// delivered again.
func TestReconcileCapturesReachAppOnce(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m"})
	s.dropOnly(t, "CAPTURE_RESULT")

	auto := apiUnique("rc-cap-auto")
	autoID := apiField(t, s.start(t, "pay", rcCardPay(auto, "")), "paymentId")
	manual := apiUnique("rc-cap-manual")
	manualID := apiField(t, s.start(t, "pay", rcCardPay(manual, "MANUAL")), "paymentId")
	if _, ok := s.record(t, "pending", "capture", "paymentRequestId", auto); !ok {
		t.Fatalf("the automatic capture was not recorded (pending: %+v)", s.payments(t, "pending"))
	}
	if _, ok := s.record(t, "pending", "capture", "paymentRequestId", manual); ok {
		t.Fatalf("a payment with captureMode MANUAL got an automatic capture's record")
	}
	s.app.WaitRequests(3, rcWait) // two PAYMENT_RESULTs, the automatic capture
	capReq := apiUnique("cap")
	body := s.callOK(t, "capture", map[string]any{"captureRequestId": capReq, "paymentId": manualID,
		"captureAmount": map[string]string{"currency": "USD", "value": "3000"}})
	captureID := apiField(t, body, "captureId")
	reqs := s.app.WaitRequests(4, rcWait)

	var autoCap outbox.Payment
	waitFor(t, rcWait, "both captures' records done", func() bool {
		_, ok1 := s.record(t, "done", "capture", "captureRequestId", capReq)
		var ok2 bool
		autoCap, ok2 = s.record(t, "done", "capture", "paymentRequestId", auto)
		return ok1 && ok2
	})
	for _, c := range []struct{ paymentID, captureID, captureRequestID string }{
		{autoID, autoCap.CaptureID, autoCap.CaptureRequestID},
		{manualID, captureID, capReq},
	} {
		n := rcDroppedOf(t, s.sim, "CAPTURE_RESULT", c.captureID)
		var capAt, payAt = -1, -1
		for i, r := range reqs {
			switch {
			case r.Header.Get("Antom-Event-Type") == "CAPTURE_RESULT" && bytes.Contains(r.Body, []byte(c.captureID)):
				capAt = i
				rcCheckTxnDelivery(t, r, n, "captureRequestId", c.captureRequestID)
			case r.Header.Get("Antom-Event-Type") == "PAYMENT_RESULT" && bytes.Contains(r.Body, []byte(c.paymentID)):
				payAt = i
			}
		}
		if capAt < 0 || payAt < 0 || capAt < payAt {
			t.Errorf("payment %s: PAYMENT_RESULT delivered #%d, CAPTURE_RESULT #%d; want both, the capture after", c.paymentID, payAt, capAt)
		}
	}
	s.late(t, rcDroppedOf(t, s.sim, "CAPTURE_RESULT", captureID))
	if got := byType(s.app.Requests(), "CAPTURE_RESULT"); len(got) != 2 {
		t.Errorf("the app got %d CAPTURE_RESULT, want 2", len(got))
	}
}

// On a forward with `ordering off` the results found by inquiry overtake each other as its
// notifications do: while the app fails its payment's PAYMENT_RESULT (found by inquiry, the
// simulator dropping every notification), the refund's REFUND_RESULT, also found by inquiry,
// is offered to the app meanwhile instead of waiting behind it; once the app works, each is
// delivered.
func TestReconcileOrderingOff(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m", Webhook: "ordering off"})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	ref := apiUnique("rc-unordered")
	s.start(t, "createPaymentSession", rcSession(ref, "1000"))
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")
	waitFor(t, rcWait, "the PAYMENT_RESULT found by inquiry offered to the app", func() bool {
		return len(byType(s.app.Requests(), "PAYMENT_RESULT")) > 0
	})

	rf := apiUnique("rf-unordered")
	body := s.callOK(t, "refund", map[string]any{"refundRequestId": rf, "paymentId": paymentID,
		"refundAmount": map[string]string{"currency": "USD", "value": "400"}})
	refundID := apiField(t, body, "refundId")
	waitFor(t, rcWait, "the REFUND_RESULT found by inquiry offered to the app while its payment's PAYMENT_RESULT fails", func() bool {
		return len(byType(s.app.Requests(), "REFUND_RESULT")) > 0
	})
	for _, r := range s.app.Requests() {
		if r.Status != http.StatusInternalServerError || r.Header.Get("Antom-Event-Source") != "inquiry" {
			t.Fatalf("%s from %s answered %d; want only results found by inquiry, all failed so far",
				r.Header.Get("Antom-Event-Type"), r.Header.Get("Antom-Event-Source"), r.Status)
		}
	}

	s.app.SetDefaultStatus(http.StatusOK)
	whWaitDelivered(t, s.app, []string{rcWebhookID(paymentID), outbox.EventID("default", antom.RefundResultDedupKey(refundID))})
}
