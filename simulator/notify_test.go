package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// notificationOf returns the simulator's record of the first notification of a type.
func notificationOf(s *Simulator, typ string) (Notification, bool) {
	for _, n := range s.Notifications() {
		if n.Type == typ {
			return n, true
		}
	}
	return Notification{}, false
}

// TestRetryUntilCorrectAck: wrong answers (500, a wrong body, equivalent JSON with another key
// order, a 204) are retried on the scaled schedule; the first exact ack stops the retries.
func TestRetryUntilCorrectAck(t *testing.T) {
	const scale = 0.0002 // 2 min -> 24 ms, 10 min -> 120 ms, 1 h -> 720 ms
	h := newHarness(t, Config{RetryScale: scale})
	rc := newReceiver(t, h.srv.PublicKey(),
		reply2{500, string(antom.AckBody)},
		reply2{200, "OK"},
		reply2{200, `{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"success"}}`},
		reply2{204, ""},
		reply2{200, string(antom.AckBody) + "\n"}, // trailing newline tolerated
	)
	h.paid("RETRY_1", "1000", rc.url())

	waitFor(t, 10*time.Second, "5 attempts", func() bool { return len(rc.requests()) >= 5 })
	time.Sleep(time.Duration(float64(retrySchedule[5]) * scale * 1.2)) // a 6th attempt would come 1.44 s after the 5th
	got := rc.requests()
	if len(got) != 5 {
		t.Fatalf("%d attempts, want exactly 5 (stop at the first correct ack)", len(got))
	}
	for i, r := range got {
		if r.verified != nil {
			t.Fatalf("attempt %d does not verify: %v", i+1, r.verified)
		}
		if !bytes.Equal(r.body, got[0].body) {
			t.Fatalf("attempt %d sent a different body", i+1)
		}
		if i > 0 {
			gap, want := r.at.Sub(got[i-1].at), time.Duration(float64(retrySchedule[i])*scale)
			if gap < want*9/10 {
				t.Fatalf("attempt %d came %v after the previous one, want >= %v", i+1, gap, want)
			}
		}
	}
	n, _ := notificationOf(h.srv.Simulator, "PAYMENT_RESULT")
	if n.State != NotifyAcked || len(n.Attempts) != 5 || n.NextAttemptAt != nil {
		t.Fatalf("record: state %s, %d attempts", n.State, len(n.Attempts))
	}
	for i, a := range n.Attempts {
		if a.Acked != (i == 4) || (i < 4 && a.Error == "") {
			t.Fatalf("attempt %d recorded as %+v", i+1, a)
		}
	}
	if n.Attempts[0].StatusCode != 500 || n.Attempts[1].Response != "OK" {
		t.Fatalf("attempts do not record the answers: %+v", n.Attempts[:2])
	}
}

// TestRetryGivesUp: never acknowledged, the schedule ends after 8 attempts.
func TestRetryGivesUp(t *testing.T) {
	h := newHarness(t, Config{RetryScale: 0.00001}) // ~0.9 s for the whole 24 h
	rc := newReceiver(t, h.srv.PublicKey(), reply2{500, "busy"})
	h.paid("GIVEUP_1", "1000", rc.url())
	waitFor(t, 10*time.Second, "the schedule to end", func() bool {
		n, ok := notificationOf(h.srv.Simulator, "PAYMENT_RESULT")
		return ok && n.State == NotifyFailed
	})
	time.Sleep(50 * time.Millisecond)
	if got := len(rc.requests()); got != len(retrySchedule) {
		t.Fatalf("%d attempts, want %d", got, len(retrySchedule))
	}
}

func TestDropSwitch(t *testing.T) {
	h := newHarness(t, Config{DropNotifications: true})
	rc := newReceiver(t, h.srv.PublicKey())
	h.paid("DROP_1", "1000", rc.url())
	n, _ := notificationOf(h.srv.Simulator, "PAYMENT_RESULT")
	if n.State != NotifyDropped {
		t.Fatalf("state %q, want dropped", n.State)
	}

	// Toggle over HTTP, as a script would.
	resp, err := http.Post(h.srv.URL+"/simulator/drop_notifications", "application/json", bytes.NewReader([]byte(`{"drop":false}`)))
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]bool
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st["drop"] || h.srv.DropNotifications() {
		t.Fatalf("drop switch still on: %v", st)
	}
	h.paid("DROP_2", "1000", rc.url())
	waitFor(t, 5*time.Second, "delivery after the switch is off", func() bool { return len(rc.requests()) == 1 })
	if got := rc.requests()[0].body; !bytes.Contains(got, []byte("DROP_2")) {
		t.Fatalf("delivered %s", got)
	}

	resp, _ = http.Post(h.srv.URL+"/simulator/drop_notifications", "application/json", bytes.NewReader([]byte(`{"dorp":true}`)))
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a malformed toggle got HTTP %d", resp.StatusCode)
	}

	// The listing shows both, with their states, as JSON.
	resp, err = http.Get(h.srv.URL + "/simulator/notifications")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Notifications []Notification `json:"notifications"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Notifications) != 2 || list.Notifications[0].State != NotifyDropped || len(list.Notifications[1].Body) == 0 {
		t.Fatalf("listing: %+v", list.Notifications)
	}
}

// TestDropStopsRetries: turning the switch on stops a notification at its next attempt.
func TestDropStopsRetries(t *testing.T) {
	h := newHarness(t, Config{RetryScale: 0.0005})
	rc := newReceiver(t, h.srv.PublicKey(), reply2{500, ""})
	h.paid("DROP_3", "1000", rc.url())
	waitFor(t, 5*time.Second, "the first attempt", func() bool { return len(rc.requests()) == 1 })
	h.srv.SetDropNotifications(true)
	waitFor(t, 5*time.Second, "the drop", func() bool {
		n, _ := notificationOf(h.srv.Simulator, "PAYMENT_RESULT")
		return n.State == NotifyDropped
	})
	if got := len(rc.requests()); got != 1 {
		t.Fatalf("%d attempts after the drop switch", got)
	}
}

// TestCloseStopsNotifications: Close returns promptly although a retry is hours away.
func TestCloseStopsNotifications(t *testing.T) {
	h := newHarness(t, Config{}) // real schedule: the second attempt is 2 minutes away
	rc := newReceiver(t, h.srv.PublicKey(), reply2{500, ""})
	h.paid("CLOSE_1", "1000", rc.url())
	waitFor(t, 5*time.Second, "the first attempt", func() bool { return len(rc.requests()) == 1 })
	start := time.Now()
	h.srv.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	n, _ := notificationOf(h.srv.Simulator, "PAYMENT_RESULT")
	if n.State != NotifyStopped {
		t.Fatalf("state %q after Close, want stopped", n.State)
	}
}

func TestNoNotifyURL(t *testing.T) {
	h := newHarness(t, Config{})
	h.paid("NOURL_1", "1000", "")
	n, ok := notificationOf(h.srv.Simulator, "PAYMENT_RESULT")
	if !ok || n.State != NotifySkipped {
		t.Fatalf("without paymentNotifyUrl: %+v", n)
	}
}

// TestNotificationSignedWithVectorKey: configured with the vectors' Antom key, notifications
// verify with antom_sim_public_spki through the antom package's request verification.
func TestNotificationSignedWithVectorKey(t *testing.T) {
	h := newHarness(t, Config{Key: antomSimKey(t)})
	var got []byte
	var verr error
	done := make(chan struct{})
	ring := antomSimKeyring(t)
	srv := newReceiver(t, h.srv.PublicKey())
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		got = buf.Bytes()
		_, verr = ring.Verify(r.Method, r.URL.RequestURI(), r.Header.Get("Client-Id"), r.Header.Get("Request-Time"), got, r.Header.Get("Signature"))
		_, _ = w.Write(antom.AckBody)
		close(done)
	})
	h.paid("VEC_1", "1000", srv.url())
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	if verr != nil {
		t.Fatalf("does not verify with antom_sim_public_spki: %v", verr)
	}
	info, err := antom.ParseNotification(got)
	if err != nil || info.Kind != antom.KindPayment || info.Type != "PAYMENT_RESULT" || info.ResultStatus != "S" || info.RequestID != "VEC_1" {
		t.Fatalf("ParseNotification: %+v, %v", info, err)
	}
}

// TestDropTypes: a drop switch limited to REFUND_RESULT drops the refund's notification and
// sends the payment's, so a test can lose just the refund's.
func TestDropTypes(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	resp, err := http.Post(h.srv.URL+"/simulator/drop_notifications", "application/json", bytes.NewReader([]byte(`{"drop":true,"types":["REFUND_RESULT"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Drop  bool     `json:"drop"`
		Types []string `json:"types"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if !st.Drop || len(st.Types) != 1 || st.Types[0] != "REFUND_RESULT" {
		t.Fatalf("drop switch %+v; want on for REFUND_RESULT", st)
	}
	id := h.paid("DROP_T", "1000", rc.url())
	h.expect("v1/payments/refund", refundReq("DROP_T_RF", id, "100", rc.url()), "SUCCESS", "S")
	waitFor(t, 5*time.Second, "the PAYMENT_RESULT", func() bool { return len(rc.ofType("PAYMENT_RESULT")) == 1 })
	if n, ok := notificationOf(h.srv.Simulator, "REFUND_RESULT"); !ok || n.State != NotifyDropped {
		t.Fatalf("REFUND_RESULT %+v; want dropped", n)
	}

	// An empty list drops every type again.
	h.srv.SetDropTypes()
	h.expect("v1/payments/refund", refundReq("DROP_T_RF2", id, "100", rc.url()), "SUCCESS", "S")
	h.paid("DROP_T2", "1000", rc.url())
	for _, n := range h.srv.Notifications()[2:] {
		if n.State != NotifyDropped {
			t.Errorf("%s %s; want dropped by the unlimited switch", n.Type, n.State)
		}
	}
	if got := rc.requests(); len(got) != 1 {
		t.Errorf("%d notifications sent, want only the first PAYMENT_RESULT", len(got))
	}
}
