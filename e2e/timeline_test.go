package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// A payment's timeline tells its whole story, in time order: the createPaymentSession and the
// refund the app made through antom_api (with their latency), the reconciliation's inquiry,
// the inquiry result's delivery attempts (a failed one, then the accepted one, each with the
// app's status and latency), a notification with a bad signature that names the payment and
// two rejected on their headers (a stale request-time, another client id), each with its
// ids unverified, the reason and the sender's address, and Antom's valid
// notification arriving twice (both duplicates of the delivered event). `caddy antom timeline`
// prints the same with the latencies.
func TestTimelineTellsThePaymentsWholeStory(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m"})
	s.app.SetStatuses(500) // the first delivery fails, the retry is accepted
	ref := apiUnique("tl")
	s.start(t, "createPaymentSession", rcSession(ref, "1000"))
	paymentID := rcBuyer(t, s.sim, ref, "pay", "SUCCESS")
	s.app.WaitRequests(2, rcWait)
	s.waitDone(t, ref)

	refundID := ref + "-refund"
	raw, _ := json.Marshal(map[string]any{"refundRequestId": refundID, "paymentId": paymentID,
		"refundAmount": map[string]string{"currency": "USD", "value": "300"}})
	if status, _, body := apiCall(t, s.api+"/antom/v1/payments/refund", raw); status != http.StatusOK || apiResult(t, body).ResultStatus != "S" {
		t.Fatalf("refund: HTTP %d %s", status, body)
	}

	n := rcDropped(t, s.sim, paymentID)
	u := s.notify[len("http://"):]
	path := u[strings.Index(u, "/"):]
	h := signNotification(t, path, apiClientID, rcISO(time.Now()), n.Body)
	forged := append(bytes.Clone(n.Body), ' ') // the signature no longer covers the body
	if status, _, body := httpDo(t, http.MethodPost, s.notify, h, forged); status != http.StatusUnauthorized {
		t.Fatalf("a notification with a bad signature: HTTP %d %s; want 401", status, body)
	}
	// Rejected on their headers alone: a replay days old, and one for another merchant.
	for _, h := range []http.Header{
		signNotification(t, path, apiClientID, rcISO(time.Now().Add(-80*time.Hour)), n.Body),
		signNotification(t, path, "TEST_5Y00000000000000", rcISO(time.Now()), n.Body),
	} {
		if status, _, body := httpDo(t, http.MethodPost, s.notify, h, n.Body); status != http.StatusUnauthorized {
			t.Fatalf("a notification rejected on its headers: HTTP %d %s; want 401", status, body)
		}
	}
	for i := 0; i < 2; i++ {
		h := signNotification(t, path, apiClientID, rcISO(time.Now()), n.Body)
		if status, _, body := httpDo(t, http.MethodPost, s.notify, h, n.Body); status != http.StatusOK {
			t.Fatalf("notification #%d: HTTP %d %s", i+1, status, body)
		}
	}

	// Activities are written in the background: wait for the last of them (the checks below
	// say what is missing if they never come).
	var tl outbox.Timeline
	count := func(what string) int {
		k := 0
		for _, e := range tl.Entries {
			if e.What == what {
				k++
			}
		}
		return k
	}
	for deadline := time.Now().Add(rcWait); ; time.Sleep(100 * time.Millisecond) {
		tl = outbox.Timeline{}
		s.p.AdminGetJSON("/antom/timeline?paymentRequestId="+ref, &tl)
		if count(outbox.ActivityDuplicate) == 2 && count(outbox.ActivityAPICall) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if tl.PaymentRequestID != ref || tl.PaymentID != paymentID {
		t.Errorf("timeline of %s / %s, want %s / %s", tl.PaymentRequestID, tl.PaymentID, ref, paymentID)
	}
	webhookID := rcWebhookID(paymentID)
	type want struct {
		what  string
		check func(e outbox.Entry) bool
	}
	story := []want{
		{outbox.ActivityAPICall, func(e outbox.Entry) bool {
			return e.API == "v1/payments/createPaymentSession" && e.Status == 200 && e.Result == "S SUCCESS" &&
				e.LatencyMs > 0 && e.IDs["paymentRequestId"] == ref && e.Detail == "amount 1000 USD"
		}},
		{outbox.ActivityInquiry, func(e outbox.Entry) bool {
			return e.API == "v1/payments/inquiryPayment" && e.LatencyMs > 0 && strings.Contains(e.Result, "SUCCESS")
		}},
		{outbox.EntryInquiry, func(e outbox.Entry) bool { return e.EventID == webhookID }},
		{outbox.StepRetry, func(e outbox.Entry) bool { return e.EventID == webhookID && e.Status == 500 && e.LatencyMs > 0 }},
		{outbox.StepDelivered, func(e outbox.Entry) bool { return e.EventID == webhookID && e.Status == 200 && e.LatencyMs > 0 }},
		{outbox.ActivityAPICall, func(e outbox.Entry) bool {
			return e.API == "v1/payments/refund" && e.Status == 200 && e.LatencyMs > 0 &&
				e.IDs["refundRequestId"] == refundID && e.IDs["paymentId"] == paymentID && e.Detail == "amount 300 USD"
		}},
		{outbox.ActivityRejected, func(e outbox.Entry) bool {
			return e.Unverified && e.Result == "bad_signature" && e.Status == 401 && e.Remote == "127.0.0.1" &&
				e.IDs["paymentRequestId"] == ref
		}},
		{outbox.ActivityDuplicate, func(e outbox.Entry) bool { return e.Detail == "duplicate of "+webhookID && !e.Unverified }},
		{outbox.ActivityDuplicate, func(e outbox.Entry) bool { return e.Detail == "duplicate of "+webhookID }},
	}
	next := 0
	for i, e := range tl.Entries {
		if i > 0 && e.At.Before(tl.Entries[i-1].At) {
			t.Errorf("entry %d (%s at %s) is older than the one before it", i, e.What, e.At)
		}
		if next < len(story) && e.What == story[next].what && story[next].check(e) {
			next++
		}
	}
	if next < len(story) {
		b, _ := json.MarshalIndent(tl.Entries, "", "  ")
		t.Fatalf("the timeline lacks, in this order, %s (and what follows it); it is:\n%s", story[next].what, b)
	}
	var reasons []string
	for _, e := range tl.Entries {
		if e.What == outbox.ActivityRejected {
			reasons = append(reasons, e.Result)
			if !e.Unverified || e.IDs["paymentId"] != paymentID || e.Remote != "127.0.0.1" {
				t.Errorf("rejected notification %+v: want its claimed ids, unverified, and the sender", e)
			}
		}
	}
	if fmt.Sprint(reasons) != "[bad_signature stale_request_time client_id_mismatch]" {
		t.Errorf("rejected notifications in the timeline: %v", reasons)
	}
	body, _ := json.Marshal(tl)
	if bytes.Contains(body, []byte(`"notifyType"`)) || bytes.Contains(body, []byte("orderDescription")) {
		t.Errorf("the timeline holds body content: %s", body)
	}

	out, err := runCaddy(t, nil, "antom", "timeline", "--request-id", ref, "--admin", s.p.Admin)
	if err != nil {
		t.Fatalf("caddy antom timeline: %v\n%s", err, out)
	}
	for _, wantText := range []string{"LATENCY", "v1/payments/refund", "notification_rejected", "bad_signature", "duplicate of " + webhookID, "ms"} {
		if !strings.Contains(out, wantText) {
			t.Errorf("caddy antom timeline does not show %q:\n%s", wantText, out)
		}
	}
}
