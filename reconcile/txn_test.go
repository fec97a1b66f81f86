package reconcile

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/simulator"
)

// call makes an Antom call like antom_api and records what it starts as antom_api does
// (Records); answer nil stands for a call whose answer never came.
func (e *env) call(api string, req map[string]any, lost bool) (*antom.Response, []*outbox.Payment) {
	e.t.Helper()
	body := mustJSON(e.t, req)
	resp, err := e.client.Call(context.Background(), "v1/payments/"+api, body)
	if err != nil {
		e.t.Fatalf("%s: %v", api, err)
	}
	answer := resp
	if lost {
		answer = nil
	}
	ps := Records(testProfile, api, body, answer, e.clock.Now(), e.cfg)
	for _, p := range ps {
		if added, err := e.store.AddPayment(context.Background(), p); err != nil || !added {
			e.t.Fatalf("AddPayment: added=%v err=%v", added, err)
		}
	}
	return resp, ps
}

// paid starts a cashier payment and pays it as the buyer; it returns the paymentId.
func (e *env) paid(ref string) string {
	e.t.Helper()
	e.start("createPaymentSession", ref, "1000", nil, nil)
	sp, err := e.sim.Act(ref, simulator.BuyerPay)
	if err != nil {
		e.t.Fatal(err)
	}
	return sp.PaymentID
}

// simNotification is the notification of type typ the simulator dropped whose body contains
// want.
func (e *env) simNotification(typ, want string) simulator.Notification {
	e.t.Helper()
	for _, n := range e.sim.Notifications() {
		if n.Type == typ && bytes.Contains(n.Body, []byte(want)) {
			return n
		}
	}
	e.t.Fatalf("the simulator has no %s naming %s", typ, want)
	return simulator.Notification{}
}

// checkInquiryEvent checks the event stored for a refund or capture found by inquiry against
// the notification the simulator dropped: same webhook-id, same fields, ordered with the
// payment's events.
func (e *env) checkInquiryEvent(n simulator.Notification, paymentID string) *outbox.Event {
	e.t.Helper()
	parsed, err := antom.ParseNotification(n.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	ev, err := e.store.Get(context.Background(), outbox.EventID(testProfile, parsed.DedupKey))
	if err != nil {
		e.t.Fatalf("no event under the notification's webhook-id (dedup key %s): %v", parsed.DedupKey, err)
	}
	if ev.Source != outbox.SourceInquiry || ev.Type != parsed.Type || ev.Kind != parsed.Kind || ev.RequestIDField != parsed.RequestIDField ||
		ev.RequestID != parsed.RequestID || ev.ResultStatus != parsed.ResultStatus || ev.OrderKey != "payment:"+paymentID || ev.Route != e.route {
		e.t.Errorf("event %+v; want an inquiry %s like the notification %+v, order key payment:%s", ev, parsed.Type, parsed, paymentID)
	}
	again, err := antom.ParseNotification(ev.Body)
	if err != nil || again.DedupKey != parsed.DedupKey || again.Family != parsed.Family {
		e.t.Errorf("the event body parses as %+v (%v); want the notification's family and key %s", again, err, parsed.DedupKey)
	}
	got, want := decodeMap(e.t, ev.Body), decodeMap(e.t, n.Body)
	for k, v := range got {
		if w, ok := want[k]; !ok || antom.MustMarshal(w) == nil || string(antom.MustMarshal(w)) != string(antom.MustMarshal(v)) {
			e.t.Errorf("field %s: %v, the notification has %v", k, v, want[k])
		}
	}
	return ev
}

// A refund whose REFUND_RESULT is lost reaches the app by inquiryRefund, under the
// notification's webhook-id and in its payment's order.
func TestRefundReachesAppByInquiry(t *testing.T) {
	for _, lost := range []bool{false, true} {
		name := "answered"
		if lost {
			name = "answer lost"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{After: 10 * time.Second})
			pid := e.paid("req-refunded")
			_, ps := e.call("refund", map[string]any{"refundRequestId": "rf-1", "paymentId": pid,
				"refundAmount": map[string]string{"currency": "USD", "value": "400"}}, lost)
			if len(ps) != 1 || ps[0].Kind != outbox.RecordRefund || ps[0].ID != outbox.RefundRecordID(testProfile, "rf-1") ||
				ps[0].PaymentID != pid || ps[0].Amount.Value != "400" || (ps[0].RefundID == "") != lost {
				t.Fatalf("recorded %+v; want the refund rf-1 of %s", ps, pid)
			}
			e.clock.Advance(10 * time.Second)
			e.run()
			p := e.payment(ps[0].ID)
			if p.State != outbox.StateDone || p.FinalStatus != StatusSuccess || p.RefundID == "" || e.finishedBy(p.ID) != ByInquiry {
				t.Fatalf("refund record %+v, finished by %q; want done SUCCESS by inquiry", p, e.finishedBy(p.ID))
			}
			if n := e.caller.count("inquiryRefund"); n != 1 {
				t.Errorf("%d inquiryRefund calls, want 1", n)
			}
			e.checkInquiryEvent(e.simNotification("REFUND_RESULT", p.RefundID), pid)
		})
	}
}

// A refund whose notification arrived is done without an inquiry, and the notification that
// arrives after the inquiry result is a duplicate.
func TestRefundNotificationFirstAndLate(t *testing.T) {
	e := newEnv(t, Config{After: 10 * time.Second})
	pid := e.paid("req-rf-notified")
	refund := func(ref string) *outbox.Payment {
		_, ps := e.call("refund", map[string]any{"refundRequestId": ref, "paymentId": pid,
			"refundAmount": map[string]string{"currency": "USD", "value": "100"}}, false)
		return ps[0]
	}
	first := refund("rf-first")
	if _, added := e.arrive(e.simNotification("REFUND_RESULT", first.RefundID).Body); !added {
		t.Fatal("the notification was not stored")
	}
	late := refund("rf-late")
	e.clock.Advance(10 * time.Second)
	e.run()
	if by := e.finishedBy(first.ID); by != ByNotification {
		t.Errorf("refund with its notification: finished by %q, want notification", by)
	}
	if n := e.caller.count("inquiryRefund"); n != 1 {
		t.Errorf("%d inquiryRefund calls, want 1 (only for the refund without its notification)", n)
	}
	if by := e.finishedBy(late.ID); by != ByInquiry {
		t.Errorf("refund without its notification: finished by %q, want inquiry", by)
	}
	if _, added := e.arrive(e.simNotification("REFUND_RESULT", late.RefundID).Body); added {
		t.Error("the late notification was stored again next to the inquiry's result")
	}
}

// A refund Antom refused records nothing.
func TestRefusedRefundNotRecorded(t *testing.T) {
	e := newEnv(t, Config{After: 10 * time.Second})
	pid := e.paid("req-rf-refused")
	resp, ps := e.call("refund", map[string]any{"refundRequestId": "rf-too-much", "paymentId": pid,
		"refundAmount": map[string]string{"currency": "USD", "value": "5000"}}, false)
	if resp.Result.ResultStatus != antom.StatusFail || len(ps) != 0 {
		t.Fatalf("refund over the amount paid answered %+v and recorded %+v; want F and nothing", resp.Result, ps)
	}
}

// cardPay is a card pay request the simulator authorises at once.
func cardPay(ref, captureMode string) map[string]any {
	req := map[string]any{
		"productCode":      "CASHIER_PAYMENT",
		"paymentRequestId": ref,
		"paymentAmount":    map[string]string{"currency": "USD", "value": "2500"},
		"paymentMethod": map[string]any{
			"paymentMethodType": "CARD",
			"paymentMethodMetaData": map[string]any{
				"cardNo": "4111111111111111", "cvv": "123", "expiryMonth": "12", "expiryYear": "39",
				"cardholderName": map[string]string{"firstName": "Tom", "lastName": "Jay"}, "is3DSAuthentication": false,
			},
		},
		"paymentFactor":      map[string]any{"isAuthorization": true, "captureMode": captureMode},
		"paymentRedirectUrl": "https://shop.example/return",
		"paymentNotifyUrl":   notifyURL,
		"order":              map[string]any{"referenceOrderId": "order-" + ref},
	}
	return req
}

// Captures, asked or automatic, whose CAPTURE_RESULT is lost reach the app by inquiryPayment.
func TestCaptureReachesAppByInquiry(t *testing.T) {
	t.Run("automatic", func(t *testing.T) {
		e := newEnv(t, Config{After: 10 * time.Second})
		resp, ps := e.call("pay", cardPay("req-card-auto", ""), false)
		if len(ps) != 2 || ps[1].Kind != outbox.RecordCapture || ps[1].ID != outbox.AutoCaptureRecordID(testProfile, "req-card-auto") {
			t.Fatalf("pay answered %s; recorded %+v; want the payment and its automatic capture", resp.Body, ps)
		}
		e.clock.Advance(10 * time.Second)
		e.run()
		p := e.payment(ps[1].ID)
		if p.State != outbox.StateDone || p.FinalStatus != StatusSuccess || p.CaptureID == "" || e.finishedBy(p.ID) != ByInquiry {
			t.Fatalf("capture record %+v, finished by %q; want done SUCCESS by inquiry", p, e.finishedBy(p.ID))
		}
		pid := e.payment(ps[0].ID).PaymentID
		ev := e.checkInquiryEvent(e.simNotification("CAPTURE_RESULT", p.CaptureID), pid)
		if n := e.simNotification("CAPTURE_RESULT", p.CaptureID); !bytes.Equal(ev.Body, n.Body) {
			t.Errorf("the body found by inquiry differs from the notification\n got: %s\nwant: %s", ev.Body, n.Body)
		}
	})
	t.Run("manual", func(t *testing.T) {
		e := newEnv(t, Config{After: 10 * time.Second})
		_, ps := e.call("pay", cardPay("req-card-manual", "MANUAL"), false)
		if len(ps) != 1 {
			t.Fatalf("a manual capture payment recorded %+v; want only the payment", ps)
		}
		e.clock.Advance(10 * time.Second)
		e.run()
		pid := e.payment(ps[0].ID).PaymentID
		_, cs := e.call("capture", map[string]any{"captureRequestId": "cap-1", "paymentId": pid,
			"captureAmount": map[string]string{"currency": "USD", "value": "2500"}}, true)
		if len(cs) != 1 || cs[0].ID != outbox.CaptureRecordID(testProfile, "cap-1") || cs[0].CaptureID != "" {
			t.Fatalf("capture without a trusted answer recorded %+v", cs)
		}
		e.clock.Advance(10 * time.Second)
		e.run()
		p := e.payment(cs[0].ID)
		if p.State != outbox.StateDone || p.FinalStatus != StatusSuccess || p.CaptureID == "" || e.finishedBy(p.ID) != ByInquiry {
			t.Fatalf("capture record %+v, finished by %q; want done SUCCESS by inquiry", p, e.finishedBy(p.ID))
		}
		e.checkInquiryEvent(e.simNotification("CAPTURE_RESULT", p.CaptureID), pid)
	})
	t.Run("declined card", func(t *testing.T) {
		e := newEnv(t, Config{After: 10 * time.Second})
		req := cardPay("req-card-declined", "AUTOMATIC")
		req["paymentMethod"].(map[string]any)["paymentMethodMetaData"].(map[string]any)["cardNo"] = "4000000000000002"
		if _, ps := e.call("pay", req, false); len(ps) != 0 {
			t.Fatalf("a declined card (F) recorded %+v; want nothing", ps)
		}
		// The same, when the answer was lost: followed, and found to owe nothing.
		req["paymentRequestId"] = "req-card-declined-lost"
		_, ps := e.call("pay", req, true)
		if len(ps) != 2 {
			t.Fatalf("recorded %+v; want the payment and its automatic capture", ps)
		}
		e.clock.Advance(10 * time.Second)
		e.run()
		if p := e.payment(ps[1].ID); p.FinalStatus != FinalNothingOwed || e.finishedBy(p.ID) != ByNothingOwed {
			t.Errorf("capture of a declined card: %+v by %q; want %s", p, e.finishedBy(p.ID), FinalNothingOwed)
		}
		for _, ev := range e.events(outbox.StatePending) {
			if ev.Type == captureResult {
				t.Errorf("a CAPTURE_RESULT was made for a declined card: %s", ev.Body)
			}
		}
	})
}

// A refund recorded before a restart (or reload) is inquired by the new worker on the same
// store, and delivered once.
func TestRefundSurvivesRestart(t *testing.T) {
	e := newEnv(t, Config{After: 10 * time.Second})
	pid := e.paid("req-rf-restart")
	_, ps := e.call("refund", map[string]any{"refundRequestId": "rf-restart", "paymentId": pid,
		"refundAmount": map[string]string{"currency": "USD", "value": "100"}}, true)
	e.restart()
	e.clock.Advance(10 * time.Second)
	e.run()
	e.restart()
	e.clock.Advance(time.Hour)
	e.run()
	p := e.payment(ps[0].ID)
	if p.State != outbox.StateDone || p.FinalStatus != StatusSuccess || e.caller.count("inquiryRefund") != 1 {
		t.Fatalf("refund after restarts: %+v, %d inquiries; want done SUCCESS after one", p, e.caller.count("inquiryRefund"))
	}
	n := 0
	for _, ev := range e.events(outbox.StatePending) {
		if ev.Type == refundResult {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d REFUND_RESULT events, want 1", n)
	}
}

// An automatic capture whose payment Antom does not know after its expiry (a card session
// never used) owes nothing: it ends without an event.
func TestAutoCaptureOfUnknownPaymentEnds(t *testing.T) {
	e := newEnv(t, Config{After: 10 * time.Second})
	now := e.clock.Now()
	c := &outbox.Payment{ID: outbox.AutoCaptureRecordID(testProfile, "req-never"), Kind: outbox.RecordCapture, Profile: testProfile,
		PaymentRequestID: "req-never", Amount: outbox.Amount{Currency: "USD", Value: "100"}, CreatedAt: now,
		ExpiresAt: now.Add(time.Minute), NextInquiry: now.Add(10 * time.Second)}
	if _, err := e.store.AddPayment(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	p := e.runUntilDone(c.ID, 20)
	if p.FinalStatus != FinalNothingOwed || e.finishedBy(p.ID) != ByNothingOwed || len(e.events(outbox.StatePending)) != 0 {
		t.Errorf("capture of an unknown payment: %+v by %q, %d events; want %s, none", p, e.finishedBy(p.ID), len(e.events(outbox.StatePending)), FinalNothingOwed)
	}
}

// The results found by inquiry are ordered as the forward orders its notifications: with
// ordering on, a refund's result waits behind its payment's result, also found by inquiry and
// still pending (not yet delivered, or failing); on a forward with `ordering off` neither has
// an order key, so both may go at once.
func TestInquiryResultsFollowRouteOrdering(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		name := "ordering on"
		if unordered {
			name = "ordering off"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{After: 10 * time.Second})
			e.unordered = unordered
			pid := e.paid("req-ordering")
			e.call("refund", map[string]any{"refundRequestId": "rf-ordering", "paymentId": pid,
				"refundAmount": map[string]string{"currency": "USD", "value": "100"}}, true)
			e.clock.Advance(10 * time.Second)
			if n := e.run(); n != 2 {
				t.Fatalf("stepped %d records, want the payment and its refund", n)
			}
			evs := e.events(outbox.StatePending)
			if len(evs) != 2 {
				t.Fatalf("%d events found by inquiry, want the PAYMENT_RESULT and the REFUND_RESULT", len(evs))
			}
			wantKey, wantClaimed := outbox.PaymentOrderKey(pid), 1
			if unordered {
				wantKey, wantClaimed = "", 2
			}
			for _, ev := range evs {
				if ev.OrderKey != wantKey {
					t.Errorf("%s found by inquiry has order key %q, want %q", ev.Type, ev.OrderKey, wantKey)
				}
			}
			claimed, err := e.store.Claim(context.Background(), outbox.ClaimRequest{Limit: 10, Free: map[string]int{e.route: 10}})
			if err != nil {
				t.Fatal(err)
			}
			if len(claimed) != wantClaimed {
				t.Errorf("%d of the payment's 2 events may go now, want %d", len(claimed), wantClaimed)
			}
		})
	}
}
