package e2e

// README promises about the reconciliation of card authorisations (antom_api `reconcile`,
// "Refunds and captures") and what operators see of it: the metrics and Caddy event of the
// Reconciliation section and the timeline's `reconcile` entries.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/reconcile"
)

// rcMetric waits until Caddy's metrics endpoint shows line (a series and its value).
func rcMetric(t testing.TB, s *rcStack, line string) {
	t.Helper()
	var m string
	waitFor(t, rcWait, "the metric "+line, func() bool {
		m = string(s.p.AdminGet("/metrics"))
		return strings.Contains(m, line+"\n")
	})
}

// A card payment with automatic capture (captureMode left out) that waits on 3-D Secure is
// recorded twice: the payment and the capture Antom would make on its own, and
// caddy_antom_payments_pending counts both. The buyer fails the challenge: the app gets the
// PAYMENT_RESULT F and nothing else, and the automatic capture ends as NO_CAPTURE, found by
// inquiryPayment: counted by kind in caddy_antom_payments_reconciled_total and
// caddy_antom_inquiries_total, announced by the Caddy event antom.payment_reconciled with its
// kind, and shown in the payment's timeline as a `reconcile` entry of a capture record.
func TestReconcileFailedCardAuthorisationOwesNoCapture(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m", Global: "\tdebug"})
	s.dropOnly(t, "CAPTURE_RESULT")

	ref := apiUnique("rc-3ds-fail")
	req := rcCardPay(ref, "")
	req["paymentMethod"].(map[string]any)["paymentMethodMetaData"].(map[string]any)["is3DSAuthentication"] = true
	if code := apiResult(t, s.start(t, "pay", req)).ResultCode; code != "PAYMENT_IN_PROCESS" {
		t.Fatalf("a card payment asking for 3-D Secure got %s, want PAYMENT_IN_PROCESS (the challenge)", code)
	}
	if _, ok := s.record(t, "pending", "capture", "paymentRequestId", ref); !ok {
		t.Fatalf("the automatic capture of a card payment was not recorded (pending: %+v)", s.payments(t, "pending"))
	}
	rcMetric(t, s, "caddy_antom_payments_pending 2")

	paymentID := rcBuyer(t, s.sim, ref, "fail", "FAIL")
	r := s.app.WaitRequests(1, rcWait)[0]
	if r.Header.Get("Antom-Event-Type") != "PAYMENT_RESULT" || r.Header.Get("Antom-Result-Status") != "F" {
		t.Fatalf("the app got %s %s, want the PAYMENT_RESULT F of the failed challenge", r.Header.Get("Antom-Event-Type"), r.Header.Get("Antom-Result-Status"))
	}
	capture := s.waitRecord(t, "capture", "paymentRequestId", ref)
	if capture.FinalStatus != "NO_CAPTURE" || capture.Attempts < 1 {
		t.Errorf("automatic capture of a failed card payment: %+v; want NO_CAPTURE after an inquiry", capture)
	}
	s.waitDone(t, ref)

	for _, line := range []string{
		"caddy_antom_payments_pending 0",
		`caddy_antom_payments_reconciled_total{by="nothing_owed",kind="capture",status="no_capture"} 1`,
		`caddy_antom_payments_reconciled_total{by="notification",kind="payment",status="fail"} 1`,
		`caddy_antom_inquiries_total{kind="capture",outcome="nothing_owed"} 1`,
	} {
		rcMetric(t, s, line)
	}

	s.p.WaitLog(`"name":"antom.payment_reconciled"`, rcWait)
	events := map[string]map[string]any{}
	for _, e := range s.p.LogEntries() {
		if e["name"] == "antom.payment_reconciled" {
			d, _ := e["data"].(map[string]any)
			events[fmt.Sprint(d["kind"])] = d
		}
	}
	if d := events["capture"]; d == nil || d["final_status"] != "NO_CAPTURE" || d["by"] != "nothing_owed" || d["payment_request_id"] != ref || d["payment_id"] != paymentID {
		t.Errorf("antom.payment_reconciled of the capture: %v; want kind capture, final_status NO_CAPTURE, by nothing_owed, payment %s / %s", d, ref, paymentID)
	}
	if d := events["payment"]; d == nil || d["final_status"] != "FAIL" {
		t.Errorf("antom.payment_reconciled of the payment: %v; want kind payment, final_status FAIL", d)
	}

	var tl outbox.Timeline
	s.p.AdminGetJSON("/antom/timeline?paymentRequestId="+ref, &tl)
	results := map[string]bool{}
	for _, e := range tl.Entries {
		if e.What == outbox.EntryReconcile {
			results[e.Result] = true
		}
	}
	kinds := map[string]string{}
	for _, p := range tl.Payments {
		kinds[reconcile.KindName(p)] = p.FinalStatus
	}
	if kinds["capture"] != "NO_CAPTURE" || kinds["payment"] != "FAIL" || !results["NO_CAPTURE"] || !results["FAIL"] {
		t.Errorf("timeline records %v, reconcile entries' results %v; want the payment FAIL and its capture NO_CAPTURE", kinds, results)
	}

	if got := byType(s.app.Requests(), "CAPTURE_RESULT"); len(got) != 0 {
		t.Errorf("the app got %d CAPTURE_RESULT for a payment that captured nothing", len(got))
	}
	if status, _, body := httpDo(t, http.MethodGet, s.sim+"/simulator/notifications", nil, nil); status != http.StatusOK || strings.Contains(string(body), `"CAPTURE_RESULT"`) {
		t.Errorf("the simulator made a CAPTURE_RESULT for a failed card payment (HTTP %d): %s", status, body)
	}
}
