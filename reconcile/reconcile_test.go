package reconcile

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/simulator"
)

// The buyer pays, Antom's notification is lost: after the grace period the worker inquires,
// and the app receives a PAYMENT_RESULT identical to the lost notification, through the same
// forwarder, signed per Standard Webhooks, marked as coming from an inquiry. The notification
// arriving afterwards is a duplicate.
func TestPaidPaymentReachesAppByInquiry(t *testing.T) {
	e := newEnv(t, Config{})
	app := newAppServer(t)
	secretText, err := delivery.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := delivery.ParseSecret(secretText)
	if err != nil {
		t.Fatal(err)
	}
	route := delivery.Route{ID: delivery.RouteID(testProfile, app.URL), Profile: testProfile, URL: app.URL, Secrets: []delivery.Secret{secret}}
	e.route = route.ID

	p := e.start("createPaymentSession", "req-paid", "1000", nil, nil)
	if want := e.clock.Now().Add(DefaultCashierExpiry); !p.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want the session's %v", p.ExpiresAt, want)
	}
	if _, err := e.sim.Act("req-paid", simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(DefaultAfter - time.Second)
	if n := e.run(); n != 0 || e.caller.count("inquiryPayment") != 0 {
		t.Fatalf("inquired within the grace period (due=%d)", n)
	}
	e.clock.Advance(time.Second)
	if n := e.run(); n != 1 {
		t.Fatalf("due payments after the grace period = %d, want 1", n)
	}

	done := e.payment(p.ID)
	sp, _ := e.sim.Payment("req-paid")
	if done.State != outbox.StateDone || done.FinalStatus != StatusSuccess || done.PaymentID != sp.PaymentID || done.Route != route.ID {
		t.Fatalf("payment after inquiry: %+v", done)
	}
	if by := e.finishedBy(p.ID); by != ByInquiry {
		t.Errorf("finished by %q, want %q", by, ByInquiry)
	}
	evs := e.events(outbox.StatePending)
	if len(evs) != 1 {
		t.Fatalf("pending events = %d, want 1", len(evs))
	}
	ev := evs[0]
	wantID := outbox.EventID(testProfile, antom.PaymentResultDedupKey(sp.PaymentID))
	if ev.ID != wantID || ev.Source != outbox.SourceInquiry || ev.Type != "PAYMENT_RESULT" || ev.Kind != antom.KindPayment ||
		ev.ResultStatus != "S" || ev.RequestID != "req-paid" || ev.RequestIDField != "paymentRequestId" || ev.Route != route.ID {
		t.Fatalf("event = %+v", ev)
	}
	// It takes its place in its payment's order, as the notification would have.
	if ev.OrderKey != outbox.PaymentOrderKey(sp.PaymentID) {
		t.Errorf("order key %q, want %q", ev.OrderKey, outbox.PaymentOrderKey(sp.PaymentID))
	}

	// The body is the notification Antom would have sent, field for field.
	n := e.notification("req-paid")
	if got, want := decodeMap(t, ev.Body), decodeMap(t, n.Body); !reflect.DeepEqual(got, want) {
		t.Errorf("event body differs from the lost notification:\n got %s\nwant %s", ev.Body, n.Body)
	}
	parsed, err := antom.ParseNotification(ev.Body)
	if err != nil || parsed.DedupKey != ev.DedupKey || parsed.Type != "PAYMENT_RESULT" || parsed.ResultStatus != "S" {
		t.Errorf("the event body parses as %+v (%v); want the event's dedup key %s", parsed, err, ev.DedupKey)
	}

	// Delivered through the real dispatcher and forwarder.
	d := delivery.NewDispatcher(e.store, &delivery.Forwarder{}, func(id string) (delivery.Route, bool) {
		return route, id == route.ID
	}, zaptest.NewLogger(t), delivery.DispatcherOptions{})
	if a := d.DeliverNow(context.Background(), ev); !a.OK {
		t.Fatalf("delivery failed: %+v", a)
	}
	got := app.got()
	if len(got) != 1 {
		t.Fatalf("app received %d requests, want 1", len(got))
	}
	h := got[0].header
	if h.Get("Antom-Event-Source") != "inquiry" || h.Get("webhook-id") != ev.ID || h.Get("Antom-Event-Type") != "PAYMENT_RESULT" ||
		h.Get("Antom-Result-Status") != "S" || h.Get("Antom-Request-Id") != "req-paid" {
		t.Errorf("headers: %v", h)
	}
	if !delivery.Verify(secret, h.Get("webhook-id"), h.Get("webhook-timestamp"), got[0].body, h.Get("webhook-signature")) {
		t.Error("the Standard Webhooks signature does not verify")
	}
	if string(got[0].body) != string(ev.Body) {
		t.Errorf("app got %s, want %s", got[0].body, ev.Body)
	}

	// Antom's notification arrives late: same webhook-id, acknowledged but not delivered again.
	late, added := e.arrive(n.Body)
	if added || late.ID != ev.ID {
		t.Errorf("late notification: added=%v id=%s, want a duplicate of %s", added, late.ID, ev.ID)
	}
	if c := e.caller.count("inquiryPayment"); c != 1 {
		t.Errorf("inquiries = %d, want 1", c)
	}
	if c := e.caller.count("cancel"); c != 0 {
		t.Errorf("cancel called %d times for a paid payment", c)
	}
}

// When the notification arrives before the first inquiry, the app gets it once and the worker
// stops: without an inquiry when the paymentId is known (pay), with one that finds the
// duplicate when it is not (createPaymentSession answers carry no paymentId).
func TestNotificationFirst(t *testing.T) {
	for _, api := range []string{"pay", "createPaymentSession"} {
		t.Run(api, func(t *testing.T) {
			e := newEnv(t, Config{})
			p := e.start(api, "req-notified", "1500", nil, nil)
			if (p.PaymentID != "") != (api == "pay") {
				t.Fatalf("PaymentID recorded = %q", p.PaymentID)
			}
			if _, err := e.sim.Act("req-notified", simulator.BuyerPay); err != nil {
				t.Fatal(err)
			}
			nev, added := e.arrive(e.notification("req-notified").Body)
			if !added {
				t.Fatal("the notification was not stored")
			}
			e.clock.Advance(DefaultAfter)
			e.run()
			done := e.payment(p.ID)
			if done.State != outbox.StateDone || done.FinalStatus != StatusSuccess {
				t.Fatalf("payment = %+v", done)
			}
			if by := e.finishedBy(p.ID); by != ByNotification {
				t.Errorf("finished by %q, want %q", by, ByNotification)
			}
			want := 1
			if api == "pay" {
				want = 0
			}
			if c := e.caller.count("inquiryPayment"); c != want {
				t.Errorf("inquiries = %d, want %d", c, want)
			}
			evs := e.events(outbox.StatePending)
			if len(evs) != 1 || evs[0].ID != nev.ID || evs[0].Source != outbox.SourceNotification {
				t.Errorf("events = %+v, want only the notification", evs)
			}
		})
	}
}

// A payment the buyer never completes: the worker keeps inquiring on a backoff schedule that
// starts at 2 s, inquires right after the expiry it knows, and without cancel_unpaid waits for
// Antom to close the payment; the app then gets the failure. Cancel is never called.
func TestUnpaidPaymentFailsAtExpiry(t *testing.T) {
	e := newEnv(t, Config{})
	start := e.clock.Now()
	// Antom closes the order at the session's expiry (14 min); the record says 5 min, as when
	// the merchant's idea of the expiry is earlier than the moment Antom closes the order.
	p := e.start("createPaymentSession", "req-abandoned", "2000", nil, func(p *outbox.Payment) {
		p.ExpiresAt = p.CreatedAt.Add(5 * time.Minute)
	})
	done := e.runUntilDone(p.ID, 200)
	if done.FinalStatus != StatusFail {
		t.Fatalf("final status %q, want FAIL (%s)", done.FinalStatus, done.LastResult)
	}
	if c := e.caller.count("cancel"); c != 0 {
		t.Errorf("cancel called %d times without cancel_unpaid", c)
	}
	evs := e.events(outbox.StatePending)
	if len(evs) != 1 || evs[0].ResultStatus != "F" || evs[0].Source != outbox.SourceInquiry {
		t.Fatalf("events = %+v", evs)
	}
	m := decodeMap(t, evs[0].Body)
	if r := m["result"].(map[string]any); r["resultCode"] != "ORDER_IS_CLOSED" || r["resultStatus"] != "F" {
		t.Errorf("result = %v", r)
	}
	if got, want := m, decodeMap(t, e.notification("req-abandoned").Body); !reflect.DeepEqual(got, want) {
		t.Errorf("body differs from the notification:\n got %v\nwant %v", got, want)
	}

	// The schedule: first inquiry after the grace period, then 2s, 4s, 8s, ... capped, one
	// inquiry at the known expiry (+margin), and the last one when Antom closed the order.
	e.mu.Lock()
	inq := append([]inquiryAt(nil), e.inquiries...)
	e.mu.Unlock()
	if inq[0].at.Sub(start) != DefaultAfter {
		t.Errorf("first inquiry at +%s, want +%s", inq[0].at.Sub(start), DefaultAfter)
	}
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		if got := inq[i+1].at.Sub(inq[i].at); got != want {
			t.Errorf("gap %d = %s, want %s", i+1, got, want)
		}
	}
	sawExpiry := false
	for i, q := range inq {
		if q.at.Equal(p.ExpiresAt.Add(ExpiryMargin)) {
			sawExpiry = true
		}
		if i > 0 && q.at.Sub(inq[i-1].at) > MaxInterval {
			t.Errorf("gap before inquiry %d is %s > %s", i, q.at.Sub(inq[i-1].at), MaxInterval)
		}
	}
	if !sawExpiry {
		t.Error("no inquiry right after the recorded expiry")
	}
	last := inq[len(inq)-1]
	if last.outcome != "fail" || last.at.Before(start.Add(DefaultCashierExpiry)) {
		t.Errorf("last inquiry %+v; want fail after Antom's expiry", last)
	}
}

// With cancel_unpaid, a payment still unpaid at its expiry is cancelled, and the app learns
// it as a failed (closed) payment.
func TestCancelUnpaid(t *testing.T) {
	e := newEnv(t, Config{CancelUnpaid: true})
	p := e.start("createPaymentSession", "req-cancel", "2500", nil, func(p *outbox.Payment) {
		p.ExpiresAt = p.CreatedAt.Add(5 * time.Minute)
	})
	done := e.runUntilDone(p.ID, 200)
	if done.FinalStatus != StatusCancelled {
		t.Fatalf("final status %q, want CANCELLED (%s)", done.FinalStatus, done.LastResult)
	}
	if got := e.clock.Now(); !got.Equal(p.ExpiresAt.Add(ExpiryMargin)) {
		t.Errorf("finished at %v, want right after the expiry %v", got, p.ExpiresAt.Add(ExpiryMargin))
	}
	if c := e.caller.count("cancel"); c != 1 || len(e.cancels) != 1 || e.cancels[0] != "cancelled" {
		t.Errorf("cancel calls = %d %v, want one, cancelled", c, e.cancels)
	}
	if sp, _ := e.sim.Payment("req-cancel"); sp.Status != simulator.StatusCancelled {
		t.Errorf("simulator status %s", sp.Status)
	}
	evs := e.events(outbox.StatePending)
	if len(evs) != 1 || evs[0].ResultStatus != "F" {
		t.Fatalf("events = %+v", evs)
	}
	m := decodeMap(t, evs[0].Body)
	if r := m["result"].(map[string]any); m["notifyType"] != "PAYMENT_RESULT" || r["resultCode"] != "ORDER_IS_CLOSED" || m["paymentId"] == nil {
		t.Errorf("body %s", evs[0].Body)
	}
}

// With cancel_unpaid, a payment that is paid by the time of expiry is never cancelled.
func TestCancelUnpaidSparesPaid(t *testing.T) {
	e := newEnv(t, Config{CancelUnpaid: true})
	p := e.start("createPaymentSession", "req-late-pay", "2600", nil, func(p *outbox.Payment) {
		p.ExpiresAt = p.CreatedAt.Add(time.Minute)
	})
	e.clock.Advance(DefaultAfter)
	e.run()
	if _, err := e.sim.Act("req-late-pay", simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}
	done := e.runUntilDone(p.ID, 50)
	if done.FinalStatus != StatusSuccess || e.caller.count("cancel") != 0 {
		t.Errorf("final %q, cancels %d", done.FinalStatus, e.caller.count("cancel"))
	}
}

// failingStorage refuses writes under a prefix, like a crash at that point.
// failingPayments is a store whose updates of payment records fail with err (a crash before
// they are made, a read-only disk); everything else works.
type failingPayments struct {
	outbox.EventStore
	err error
}

func (s failingPayments) UpdatePayment(context.Context, *outbox.Payment) error { return s.err }

func (s failingPayments) FinishPayment(context.Context, *outbox.Payment, string) error {
	return s.err
}

// leaseEnds ends the lease a worker's DuePayments took on the payment id, as the minute of
// the lease passing on the database's clock would: it rewrites the record unchanged.
func (e *env) leaseEnds(id string) {
	e.t.Helper()
	if err := e.store.UpdatePayment(context.Background(), e.payment(id)); err != nil {
		e.t.Fatal(err)
	}
}

// Restarts lose nothing: a new worker on the same storage continues the schedule, and a crash
// between storing the result event and finishing the payment delivers the result only once.
func TestRestartMidReconciliation(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.start("createPaymentSession", "req-restart", "3000", nil, nil)
	e.clock.Advance(DefaultAfter)
	e.run()
	e.clock.Advance(FirstInterval)
	e.run()
	before := e.payment(p.ID)
	if before.State != outbox.StatePending || before.Attempts != 2 || !before.NextInquiry.Equal(e.clock.Now().Add(4*time.Second)) {
		t.Fatalf("before restart: %+v", before)
	}

	e.restart()
	after := e.payment(p.ID)
	if after.Attempts != 2 || !after.NextInquiry.Equal(before.NextInquiry) || after.PaymentID == "" {
		t.Fatalf("after restart: %+v", after)
	}
	if _, err := e.sim.Act("req-restart", simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}

	// The next step finds SUCCESS and stores the event, then "crashes" before the payment is
	// marked done.
	crashed := New(failingPayments{e.store, errors.New("simulated crash")}, e.options())
	e.clock.Set(after.NextInquiry)
	if _, err := crashed.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.payment(p.ID); got.State != outbox.StatePending {
		t.Fatalf("the crash did not leave the payment pending: %+v", got)
	}
	if evs := e.events(outbox.StatePending); len(evs) != 1 {
		t.Fatalf("events after the crash = %d, want 1", len(evs))
	}

	e.restart()
	e.leaseEnds(p.ID) // the crashed instance's
	e.run()
	done := e.payment(p.ID)
	if done.State != outbox.StateDone || done.FinalStatus != StatusSuccess {
		t.Fatalf("after the second restart: %+v", done)
	}
	if by := e.finishedBy(p.ID); by != ByInquiry {
		t.Errorf("finished by %q, want inquiry (the event came from the earlier inquiry)", by)
	}
	if evs := e.events(outbox.StatePending); len(evs) != 1 || evs[0].Source != outbox.SourceInquiry {
		t.Errorf("events = %+v, want exactly one", evs)
	}
}

// Without a route to the app the result is not lost: the payment stays pending (and says
// why) until a config with the profile's antom_webhook comes back.
func TestNoRouteKeepsPaymentPending(t *testing.T) {
	e := newEnv(t, Config{})
	e.routeOK = false
	p := e.start("createPaymentSession", "req-noroute", "3100", nil, nil)
	if _, err := e.sim.Act("req-noroute", simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultAfter)
	e.run()
	got := e.payment(p.ID)
	if got.State != outbox.StatePending || !strings.Contains(got.LastResult, "no antom_webhook") ||
		!got.NextInquiry.Equal(e.clock.Now().Add(MaxInterval)) {
		t.Fatalf("payment = %+v", got)
	}
	if evs := e.events(outbox.StatePending); len(evs) != 0 {
		t.Fatalf("events = %+v", evs)
	}
	e.mu.Lock()
	e.routeOK = true
	e.mu.Unlock()
	if done := e.runUntilDone(p.ID, 3); done.FinalStatus != StatusSuccess {
		t.Fatalf("payment = %+v", done)
	}
	if evs := e.events(outbox.StatePending); len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
}

// Payments of a profile whose antom_api has no `reconcile` in the current config wait.
func TestProfileWithoutReconcileWaits(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.start("pay", "req-other-profile", "3200", nil, func(p *outbox.Payment) {
		p.Profile = "other"
		p.ID = outbox.PaymentRecordID(p.Profile, p.PaymentRequestID)
	})
	e.clock.Advance(DefaultAfter)
	e.run()
	got := e.payment(p.ID)
	if got.State != outbox.StatePending || e.caller.count("inquiryPayment") != 0 || !strings.Contains(got.LastResult, "not enabled") {
		t.Fatalf("payment = %+v, inquiries %d", got, e.caller.count("inquiryPayment"))
	}
	// Nobody will ever reconcile it: after the default give_up it is given up, not kept forever.
	done := e.runUntilDone(p.ID, 400)
	if done.FinalStatus != FinalUnknown || e.finishedBy(p.ID) != ByGiveUp || !e.clock.Now().Equal(p.CreatedAt.Add(DefaultGiveUp)) {
		t.Fatalf("payment = %+v at %v", done, e.clock.Now())
	}
}

// Run, the leader's loop, with the real clock, delivers through a running dispatcher.
func TestRunDeliversWithDispatcher(t *testing.T) {
	c := newClock()
	c.real = true
	e := newEnvClock(t, Config{After: 50 * time.Millisecond}, c)
	app := newAppServer(t)
	secretText, _ := delivery.GenerateSecret()
	secret, err := delivery.ParseSecret(secretText)
	if err != nil {
		t.Fatal(err)
	}
	route := delivery.Route{ID: delivery.RouteID(testProfile, app.URL), Profile: testProfile, URL: app.URL, Secrets: []delivery.Secret{secret}}
	e.route = route.ID
	d := delivery.NewDispatcher(e.store, &delivery.Forwarder{}, func(id string) (delivery.Route, bool) {
		return route, id == route.ID
	}, zaptest.NewLogger(t), delivery.DispatcherOptions{PollInterval: 20 * time.Millisecond})
	opts := e.options()
	opts.PollInterval = 20 * time.Millisecond
	opts.Kick = d.Kick
	w := New(e.store, opts)

	p := e.start("pay", "req-run", "3300", nil, nil)
	if _, err := e.sim.Act("req-run", simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{}, 2)
	go func() { w.Run(ctx); stopped <- struct{}{} }()
	go func() { d.Run(ctx); stopped <- struct{}{} }()
	defer func() {
		cancel()
		<-stopped
		<-stopped
	}()

	deadline := time.Now().Add(10 * time.Second)
	for len(app.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the app received nothing within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := app.got()[0]
	if got.header.Get("Antom-Event-Source") != "inquiry" || got.header.Get("Antom-Result-Status") != "S" {
		t.Errorf("headers %v", got.header)
	}
	for time.Now().Before(deadline) {
		if pp, err := e.store.GetPayment(context.Background(), p.ID); err == nil && pp.State == outbox.StateDone {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("payment not marked done")
}

// Run works on many payments at once and steps each one once per due time: twenty paid
// payments take exactly twenty inquiries and make twenty events.
func TestRunStepsEachPaymentOnce(t *testing.T) {
	c := newClock()
	c.real = true
	e := newEnvClock(t, Config{After: 30 * time.Millisecond}, c)
	ids := make([]string, 20)
	for i := range ids {
		req := "req-many-" + string(rune('a'+i))
		ids[i] = e.start("pay", req, "1000", nil, nil).ID
		if _, err := e.sim.Act(req, simulator.BuyerPay); err != nil {
			t.Fatal(err)
		}
	}
	opts := e.options()
	opts.PollInterval = 5 * time.Millisecond
	opts.Concurrency = 4
	w := New(e.store, opts)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	// Wait for the hooks, which run once the store is updated.
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.mu.Lock()
		n := len(e.finished)
		e.mu.Unlock()
		if n == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d payments finished", n, len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-stopped
	if n := e.caller.count("inquiryPayment"); n != len(ids) {
		t.Errorf("inquiries = %d, want %d", n, len(ids))
	}
	if evs := e.events(outbox.StatePending); len(evs) != len(ids) {
		t.Errorf("events = %d, want %d", len(evs), len(ids))
	}
	for _, id := range ids {
		if by := e.finishedBy(id); by != ByInquiry {
			t.Errorf("%s finished by %q", id, by)
		}
	}
}

// When the store stops taking a payment's updates (a read-only disk), a payment whose next
// inquiry cannot be recorded is not inquired about again at every poll once the lease its
// claim took ends: it backs off as if the update had worked.
func TestReadOnlyStorageBacksOff(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.start("createPaymentSession", "req-readonly", "3200", nil, nil) // unpaid: PROCESSING
	e.worker = New(failingPayments{e.store, errors.New("read-only file system")}, e.options())
	e.clock.Advance(DefaultAfter)
	// runs polls a few times at the current time and checks the inquiries made so far.
	runs := func(what string, want int) {
		t.Helper()
		for range 3 {
			e.leaseEnds(p.ID)
			e.run()
		}
		if n := e.caller.count("inquiryPayment"); n != want {
			t.Fatalf("%d inquiries %s, want %d", n, what, want)
		}
	}
	runs("while the clock stood still", 1)
	e.clock.Advance(backoff(1) - time.Millisecond)
	runs("before the backoff passed", 1)
	e.clock.Advance(time.Millisecond)
	runs("after the first backoff", 2)
	// The backoff grows with the inquiries made, recorded or not.
	e.clock.Advance(backoff(2) - time.Millisecond)
	runs("within the second backoff", 2)
	e.clock.Advance(time.Millisecond)
	runs("after the second backoff", 3)
	if got := e.payment(p.ID); got.Attempts != 0 || got.State != outbox.StatePending {
		t.Fatalf("the store changed although it takes no update: %+v", got)
	}
}

// failingUpdates is a store whose next fails updates of payment records fail with err (a disk
// full for a moment); then it takes them again.
type failingUpdates struct {
	outbox.EventStore
	fails atomic.Int32
	err   error
}

func (s *failingUpdates) UpdatePayment(ctx context.Context, p *outbox.Payment) error {
	if s.fails.Add(-1) >= 0 {
		return s.err
	}
	return s.EventStore.UpdatePayment(ctx, p)
}

// A payment held back after its reschedule could not be recorded is not leased past its next
// inquiry: once the store takes writes again, the next look at it records the schedule that
// failed, which ends the lease DuePayments took, and the inquiry comes on time.
func TestHeldBackPaymentNotLeasedPastItsInquiry(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.start("createPaymentSession", "req-held", "3400", nil, nil) // unpaid: PROCESSING
	store := &failingUpdates{EventStore: e.store, err: errors.New("no space left on device")}
	store.fails.Store(1)
	e.worker = New(store, e.options())
	e.clock.Advance(DefaultAfter)
	e.run() // the inquiry's reschedule fails: held back for backoff(1)
	next := e.clock.Now().Add(backoff(1))
	e.leaseEnds(p.ID)
	e.run() // due in storage, held back in memory: the store takes the schedule now
	if got := e.payment(p.ID); got.Attempts != 1 || !got.NextInquiry.Equal(next) {
		t.Fatalf("held payment in storage: %d inquiries, next %v; want 1, %v", got.Attempts, got.NextInquiry, next)
	}
	e.clock.Set(next)
	e.run()
	if n := e.caller.count("inquiryPayment"); n != 2 {
		t.Fatalf("%d inquiries when the backoff passed, want 2 (the payment stayed leased)", n)
	}
	if got := e.payment(p.ID); got.Attempts != 2 {
		t.Errorf("payment after its second inquiry: %+v", got)
	}
}

// stoppingCaller is Antom answering while the worker stops: the call ends with the worker's
// context (the reload or shutdown cuts it short).
type stoppingCaller struct{ stop context.CancelFunc }

func (c stoppingCaller) Call(ctx context.Context, api string, body []byte) (*antom.Response, error) {
	c.stop()
	<-ctx.Done()
	return nil, ctx.Err()
}

// stoppingStore is a store on which the worker stops right after DuePayments leased its
// payments.
type stoppingStore struct {
	outbox.EventStore
	stop context.CancelFunc
}

func (s stoppingStore) DuePayments(ctx context.Context, at time.Time, limit int) ([]*outbox.Payment, error) {
	ps, err := s.EventStore.DuePayments(ctx, at, limit)
	s.stop()
	return ps, err
}

// Payments a stopping worker leased and did not finish (not started yet, or their inquiry cut
// short) are handed back at once: the next config's worker inquires about them at once, not
// a minute later when the lease ends.
func TestStoppedWorkerHandsPaymentsBack(t *testing.T) {
	for _, c := range []struct {
		name string
		old  func(e *env, stop context.CancelFunc) *Worker
	}{
		{"leased, not started", func(e *env, stop context.CancelFunc) *Worker {
			return New(stoppingStore{e.store, stop}, e.options())
		}},
		{"inquiry cut short", func(e *env, stop context.CancelFunc) *Worker {
			opts := e.options()
			opts.Profile = func(string) (Profile, bool) { return Profile{Client: stoppingCaller{stop}, Config: e.cfg}, true }
			return New(e.store, opts)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			p := e.start("createPaymentSession", "req-stop", "3500", nil, nil)
			if _, err := e.sim.Act("req-stop", simulator.BuyerPay); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(DefaultAfter)
			ctx, stop := context.WithCancel(context.Background())
			if _, err := c.old(e, stop).RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if got := e.payment(p.ID); got.State != outbox.StatePending || got.NextInquiry.After(e.clock.Now()) {
				t.Fatalf("after the stop: %+v; want pending and due", got)
			}
			e.restart() // the next config's worker
			if n := e.run(); n != 1 || e.payment(p.ID).State != outbox.StateDone {
				t.Fatalf("the next worker stepped %d payments, want the one the stopped worker leased (%+v)", n, e.payment(p.ID))
			}
		})
	}
}
