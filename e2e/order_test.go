package e2e

import (
	"net/http"
	"slices"
	"testing"
)

// whPaymentLife is a payment result, a capture and a refund of one payment.
func whPaymentLife(id string) [][]byte {
	payment := `"paymentId":"2024010119401080010018` + id + `"`
	res := `"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."}`
	return [][]byte{
		[]byte(`{"notifyType":"PAYMENT_RESULT",` + res + `,"paymentRequestId":"PAYREQ_` + id + `",` + payment + `,"paymentAmount":{"value":"1000","currency":"USD"}}`),
		[]byte(`{"notifyType":"CAPTURE_RESULT",` + res + `,"captureRequestId":"CAPREQ_` + id + `",` + payment + `,"captureId":"CAP_` + id + `","captureAmount":{"value":"1000","currency":"USD"}}`),
		[]byte(`{"notifyType":"REFUND_RESULT",` + res + `,"refundRequestId":"REFREQ_` + id + `","refundId":"REF_` + id + `",` + payment + `,"refundAmount":{"value":"1000","currency":"USD"}}`),
	}
}

// The payment result, capture and refund of one payment, sent one after the other while the
// app fails the first delivery: the capture and the refund wait for the payment result's retry,
// so the app gets them in the order received, each once.
func TestWebhookPaymentOrder(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	bodies := whPaymentLife("ORDER1")
	s.app.SetStatuses(http.StatusInternalServerError) // the payment result's first delivery
	want := map[string][]byte{}
	ids := make([]string, len(bodies))
	for i, b := range bodies {
		s.whNotify(b)
		ids[i] = whEventID(t, b)
		want[ids[i]] = b
	}
	whWaitDelivered(t, s.app, ids)
	whCheckDeliveries(t, s.app, want, true)

	var order []string // the webhook-ids in the order the app got them, failures included
	for _, r := range s.app.Requests() {
		order = append(order, r.Header.Get("webhook-id"))
	}
	wantOrder := []string{ids[0], ids[0], ids[1], ids[2]}
	if len(order) != len(wantOrder) {
		t.Fatalf("the app got %d requests, want 4 (the payment result twice, then the capture, then the refund): %v", len(order), order)
	}
	for i := range order {
		if order[i] != wantOrder[i] {
			t.Fatalf("the app got the events in the order %v, want payment result (failed, then retried), capture, refund: %v", order, wantOrder)
		}
	}
}

// The order holds across a crash: with the app failing, the payment result waits for its retry
// and the capture and refund behind it; after a SIGKILL and a restart the app, working again,
// gets the payment result first, then the capture, then the refund.
func TestWebhookPaymentOrderAfterSIGKILL(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	bodies := whPaymentLife("ORDER2")
	ids := make([]string, len(bodies))
	for i, b := range bodies {
		s.whNotify(b)
		ids[i] = whEventID(t, b)
	}
	for _, id := range ids {
		whWaitState(t, s.p, id, "pending")
	}
	s.p.Kill()
	s.app.SetDefaultStatus(http.StatusOK)
	s.p.Restart()
	whWaitDelivered(t, s.app, ids)
	whRequireOrder(t, s.app, ids)
}

// whRequireOrder waits until the app accepted each of ids (the events of one payment, in the
// order Antom sent them), and fails the test if a request for one of them reached the app
// before every earlier one had been delivered.
func whRequireOrder(t *testing.T, app *fakeApp, ids []string) {
	t.Helper()
	whWaitDelivered(t, app, ids)
	firstOK := map[string]int{} // webhook-id -> index of its first 2xx among the app's requests
	for i, r := range app.Requests() {
		id := r.Header.Get("webhook-id")
		if _, seen := firstOK[id]; !seen && whOK(r) {
			firstOK[id] = i
		}
		// Nothing of the payment may arrive before the events received earlier were delivered.
		for _, earlier := range ids[:max(slices.Index(ids, id), 0)] {
			if _, done := firstOK[earlier]; !done {
				t.Fatalf("request %d (%s) reached the app before the earlier event %s of its payment was delivered", i, id, earlier)
			}
		}
	}
}

// whFailFirstThenRest runs first (it sends a payment's first event) while the app fails every
// request, then between, then rest (it sends the later events), and keeps the app failing until
// the first event (firstID) was attempted once more: the later ones had their chance to overtake
// it. Then the app recovers; whRequireOrder checks what it got.
func whFailFirstThenRest(t *testing.T, app *fakeApp, firstID string, first, between, rest func()) {
	t.Helper()
	app.SetDefaultStatus(http.StatusInternalServerError)
	first()
	attempts := func() int { return len(whByID(app.Requests())[firstID]) }
	before := attempts()
	between()
	rest()
	waitFor(t, whWait, "another failed attempt of the first event", func() bool { return attempts() > before })
	app.SetDefaultStatus(http.StatusOK)
}

// A payment result the app refuses, then a config reload, and within a second the refund of
// the same payment: the new config must not send the refund before the payment result,
// although it has not delivered anything yet.
func TestWebhookPaymentOrderAcrossReload(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	bodies := whPaymentLife("RELOAD1")
	payment, refund := bodies[0], bodies[2]
	ids := []string{whEventID(t, payment), whEventID(t, refund)}
	changed := s.conf
	changed.SyncTimeout = "2s"
	whFailFirstThenRest(t, s.app, ids[0],
		func() { s.whNotify(payment) },
		func() { s.p.Reload(changed.caddyfile()) },
		func() { s.whNotify(refund) })
	whRequireOrder(t, s.app, ids)
}

// The same across a crash: the payment result waits for its retry, caddy is SIGKILLed and
// started again, and the refund arrives right after the restart.
func TestWebhookPaymentOrderRefundAfterSIGKILL(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	bodies := whPaymentLife("KILL1")
	payment, refund := bodies[0], bodies[2]
	ids := []string{whEventID(t, payment), whEventID(t, refund)}
	whFailFirstThenRest(t, s.app, ids[0],
		func() { s.whNotify(payment) },
		func() {
			whWaitState(t, s.p, ids[0], "pending")
			s.p.Kill()
			s.p.Restart()
		},
		func() { s.whNotify(refund) })
	whRequireOrder(t, s.app, ids)
}

// Three instances on one PostgreSQL database; the payment result, the capture and the refund of
// one payment reach three different instances while the app refuses the payment result: the app
// gets them in order, whichever instance delivers each.
func TestPostgresStorePaymentOrderAcrossInstances(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 3)
	bodies := whPaymentLife("PGORDER1")
	ids := make([]string, len(bodies))
	for i, b := range bodies {
		ids[i] = whEventID(t, b)
	}
	whFailFirstThenRest(t, c.app, ids[0],
		func() { c.nodes[0].whNotify(bodies[0]) },
		func() {},
		func() {
			c.nodes[1].whNotify(bodies[1])
			c.nodes[2].whNotify(bodies[2])
		})
	whRequireOrder(t, c.app, ids)
}
