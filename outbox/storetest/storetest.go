// Package storetest is the contract test suite of outbox.EventStore: every store runs it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Open returns a new, empty store, and a function that opens another handle on the same data
// (another config generation or instance).
type Open func(t *testing.T) (store outbox.EventStore, another func() outbox.EventStore)

// Corrupt makes the stored record of the event id undecodable, behind the store's back.
type Corrupt func(t *testing.T, s outbox.EventStore, id string)

// Run runs the contract tests against the stores open makes; corrupt (nil: those tests are
// not run) damages a record for the unreadable-record tests.
func Run(t *testing.T, open Open, corrupt Corrupt) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"AddDeduplicates", addDeduplicates},
		{"ConcurrentAddsOneWinner", concurrentAddsOneWinner},
		{"AddDelivering", addDelivering},
		{"ConcurrentAddDeliveringOneDelivery", concurrentAddDeliveringOneDelivery},
		{"Lifecycle", lifecycle},
		{"RescheduleLeavesFinal", rescheduleLeavesFinal},
		{"Prune", prune},
		{"Payments", payments},
		{"Search", search},
		{"Redrive", redrive},
		{"PaymentTimeline", paymentTimeline},
		{"Pauses", pauses},
		{"Release", release},
		{"Activities", activities},
		{"TimelineActivities", timelineActivities},
		{"Backlogs", backlogs},
		{"HourlyOutcomes", hourlyOutcomes},
		{"ClaimPassesOverFullAndPausedRoutes", claimPassesOverFullAndPausedRoutes},
		{"ClaimKeepsOrder", claimKeepsOrder},
		{"AddDeliveringKeepsOrder", addDeliveringKeepsOrder},
		{"ClaimsAreExclusive", claimsAreExclusive},
		{"UnwrittenOutcomeFreesEvent", unwrittenOutcomeFreesEvent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
	t.Run("UnreadableRecordSetAside", func(t *testing.T) { unreadableRecordSetAside(t, open, corrupt) })
}

func event(key string) *outbox.Event {
	return &outbox.Event{
		Profile: "p", Route: "rt_0123456789abcdef", Source: outbox.SourceNotification,
		Kind: "notifyType", Type: "PAYMENT_RESULT", ResultStatus: "S",
		RequestIDField: "paymentRequestId", RequestID: "req-" + key, DedupKey: key,
		Body: []byte(`{"notifyType":"PAYMENT_RESULT", "paymentId":"pay-` + key + `"}` + "\r\n"),
	}
}

var ctx = context.Background()

// claim claims up to limit due events, every route having room for all of them.
func claim(s outbox.EventStore, limit int) ([]*outbox.Event, error) {
	return s.Claim(ctx, outbox.ClaimRequest{Limit: limit, Others: limit})
}

func mustAdd(t *testing.T, s outbox.EventStore, ev *outbox.Event) {
	t.Helper()
	if added, err := s.Add(ctx, ev); err != nil || !added {
		t.Fatalf("Add(%s) = %v, %v", ev.DedupKey, added, err)
	}
}

func state(t *testing.T, s outbox.EventStore, id string) *outbox.Event {
	t.Helper()
	ev, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return ev
}

func addDeduplicates(t *testing.T, open Open) {
	s, _ := open(t)
	ev := event("k")
	mustAdd(t, s, ev)
	if ev.ID != outbox.EventID("p", "k") || ev.State != outbox.StatePending || ev.ReceivedAt.IsZero() ||
		!ev.NextAttempt.Equal(ev.ReceivedAt.Add(outbox.DefaultGrace)) {
		t.Fatalf("Add did not fill in the defaults: %+v", ev)
	}
	if added, err := s.Add(ctx, event("k")); err != nil || added {
		t.Fatalf("second Add = %v, %v; want a duplicate", added, err)
	}
	got := state(t, s, ev.ID)
	if string(got.Body) != string(ev.Body) || got.State != outbox.StatePending || got.RequestID != "req-k" {
		t.Fatalf("Get = %+v", got)
	}
	if _, err := s.Get(ctx, outbox.EventID("p", "missing")); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Replay(ctx, outbox.EventID("p", "missing")); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("Replay(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Add(ctx, &outbox.Event{ID: "msg_../x"}); !errors.Is(err, outbox.ErrInvalidID) {
		t.Fatalf("Add(bad id) = %v", err)
	}
	// Delivered events still deduplicate.
	if err := s.MarkDelivered(ctx, got, time.Now()); err != nil {
		t.Fatal(err)
	}
	if added, err := s.Add(ctx, event("k")); err != nil || added {
		t.Fatalf("Add after delivery = %v, %v; want a duplicate", added, err)
	}
}

func concurrentAddsOneWinner(t *testing.T, open Open) {
	s, another := open(t)
	handles := []outbox.EventStore{s, another()}
	for round := range 5 {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				added, err := handles[i%2].Add(ctx, event(fmt.Sprint("race", round)))
				if err != nil {
					t.Error(err)
				}
				if added {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d Adds won, want exactly 1", round, n)
		}
	}
}

// addDelivering: the outcome deliver records is the event's state when AddDelivering returns;
// with none recorded the event is pending; a duplicate is not delivered again.
func addDelivering(t *testing.T, open Open) {
	s, _ := open(t)
	at := time.Now()
	delivered := event("delivered")
	if added, err := s.AddDelivering(ctx, delivered, func() {
		delivered.Attempts, delivered.LastStatus = 1, 200
		if err := s.MarkDelivered(ctx, delivered, at); err != nil {
			t.Error(err)
		}
	}); err != nil || !added {
		t.Fatalf("AddDelivering = %v, %v", added, err)
	}
	if got := state(t, s, delivered.ID); got.State != outbox.StateDelivered || got.Attempts != 1 || !got.DeliveredAt.Equal(at) ||
		string(got.Body) != string(delivered.Body) {
		t.Fatalf("delivered at once: %+v", got)
	}
	for _, add := range []func(*outbox.Event) (bool, error){
		func(ev *outbox.Event) (bool, error) { return s.Add(ctx, ev) },
		func(ev *outbox.Event) (bool, error) {
			return s.AddDelivering(ctx, ev, func() { t.Error("a duplicate was delivered") })
		},
	} {
		if added, err := add(event("delivered")); err != nil || added {
			t.Fatalf("adding a delivered event again = %v, %v; want a duplicate", added, err)
		}
	}

	failed := event("failed")
	next := at // due again at once, to be claimed below
	if added, err := s.AddDelivering(ctx, failed, func() {
		failed.Attempts = 1
		if err := s.Reschedule(ctx, failed, next, "503 from the app", 503); err != nil {
			t.Error(err)
		}
	}); err != nil || !added {
		t.Fatalf("AddDelivering = %v, %v", added, err)
	}
	if got := state(t, s, failed.ID); got.State != outbox.StatePending || got.Attempts != 1 || got.LastStatus != 503 ||
		!got.NextAttempt.Equal(next) {
		t.Fatalf("failed at once: %+v", got)
	}
	if due, err := claim(s, 10); err != nil || len(due) != 1 || due[0].ID != failed.ID {
		t.Fatalf("Claim after the failed first attempt = %v, %v", ids(due), err)
	}

	dead := event("dead")
	if added, err := s.AddDelivering(ctx, dead, func() {
		if err := s.MarkDead(ctx, dead, at, "gave up"); err != nil {
			t.Error(err)
		}
	}); err != nil || !added {
		t.Fatalf("AddDelivering = %v, %v", added, err)
	}
	if got := state(t, s, dead.ID); got.State != outbox.StateDead || got.LastError != "gave up" {
		t.Fatalf("dead at once: %+v", got)
	}

	skipped := event("skipped")
	if added, err := s.AddDelivering(ctx, skipped, func() {}); err != nil || !added {
		t.Fatalf("AddDelivering = %v, %v", added, err)
	}
	if got := state(t, s, skipped.ID); got.State != outbox.StatePending || !got.NextAttempt.Equal(skipped.ReceivedAt.Add(outbox.DefaultGrace)) {
		t.Fatalf("no attempt recorded: %+v", got)
	}
	counts, err := s.Counts(ctx)
	if err != nil || counts[outbox.StatePending] != 2 || counts[outbox.StateDelivered] != 1 || counts[outbox.StateDead] != 1 {
		t.Fatalf("Counts = %v, %v", counts, err)
	}
}

// concurrentAddDeliveringOneDelivery: the same notification added at once through two handles
// (and a plain Add among them, as the inquiry result standing in for it) is delivered once.
func concurrentAddDeliveringOneDelivery(t *testing.T, open Open) {
	s, another := open(t)
	handles := []outbox.EventStore{s, another()}
	for round := range 5 {
		var wins, deliveries atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := handles[i%2]
				ev := event(fmt.Sprint("race", round))
				var added bool
				var err error
				if i == 5 {
					added, err = h.Add(ctx, ev)
				} else {
					added, err = h.AddDelivering(ctx, ev, func() {
						deliveries.Add(1)
						if err := h.MarkDelivered(ctx, ev, time.Now()); err != nil {
							t.Error(err)
						}
					})
				}
				if err != nil {
					t.Error(err)
				}
				if added {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if w, d := wins.Load(), deliveries.Load(); w != 1 || d > 1 {
			t.Fatalf("round %d: %d adds won and %d delivered, want exactly 1 and at most 1", round, w, d)
		}
	}
}

func lifecycle(t *testing.T, open Open) {
	s, _ := open(t)
	now := time.Now().Add(-time.Hour) // every time below has passed: Claim reads the store's clock
	a, b := event("a"), event("b")
	a.ReceivedAt, a.NextAttempt = now.Add(-2*time.Second), now.Add(-2*time.Second)
	b.ReceivedAt, b.NextAttempt = now.Add(-time.Second), now.Add(-time.Second)
	// Antom's signature, kept so that a forward in Antom's format passes it through on every attempt.
	signed := outbox.AntomSignature{ClientID: "C", RequestTime: "1700000000000", Signature: "algorithm=RSA256,keyVersion=1,signature=a%2Bb%3D", Path: "/antom/notify?x=1"}
	a.Signed = &signed
	mustAdd(t, s, b)
	mustAdd(t, s, a)
	later := event("later")
	later.NextAttempt = now.Add(2 * time.Hour)
	mustAdd(t, s, later)

	due, err := claim(s, 10)
	if err != nil || len(due) != 2 || due[0].ID != a.ID || due[1].ID != b.ID {
		t.Fatalf("Claim = %v, %v; want a then b", ids(due), err)
	}
	bev := due[1]
	if pending, err := s.List(ctx, outbox.StatePending, 0); err != nil || len(pending) != 3 || pending[0].ID != a.ID {
		t.Fatalf("List(pending) = %v, %v", ids(pending), err)
	}

	// A failed attempt: pending, later.
	ev := due[0]
	ev.Attempts++
	if err := s.Reschedule(ctx, ev, now.Add(time.Minute), "503 from the app", 503); err != nil {
		t.Fatal(err)
	}
	if got := state(t, s, a.ID); got.State != outbox.StatePending || got.Attempts != 1 || got.LastStatus != 503 ||
		got.LastError != "503 from the app" || !got.NextAttempt.Equal(now.Add(time.Minute)) || got.Signed == nil || *got.Signed != signed {
		t.Fatalf("after Reschedule: %+v", got)
	}
	due, err = claim(s, 10) // b is still claimed
	if err != nil || len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("Claim while b is claimed, a minute later = %v, %v", ids(due), err)
	}

	// Delivered.
	if err := s.MarkDelivered(ctx, due[0], now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := state(t, s, a.ID); got.State != outbox.StateDelivered || !got.DeliveredAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after MarkDelivered: %+v", got)
	}
	// Dead.
	if err := s.MarkDead(ctx, bev, now, "gave up"); err != nil {
		t.Fatal(err)
	}
	if got := state(t, s, b.ID); got.State != outbox.StateDead || got.LastError != "gave up" {
		t.Fatalf("after MarkDead: %+v", got)
	}
	counts, err := s.Counts(ctx)
	if err != nil || counts[outbox.StatePending] != 1 || counts[outbox.StateDelivered] != 1 || counts[outbox.StateDead] != 1 {
		t.Fatalf("Counts = %v, %v", counts, err)
	}
	if l, _ := s.List(ctx, outbox.StateDead, 0); len(l) != 1 || l[0].ID != b.ID {
		t.Fatalf("List(dead) = %v", ids(l))
	}

	// Replays: a delivered one by id, the dead ones all at once.
	got, err := s.Replay(ctx, a.ID)
	if err != nil || got.State != outbox.StatePending || got.Attempts != 0 || !got.DeliveredAt.IsZero() || got.ReplayedAt.IsZero() {
		t.Fatalf("Replay = %+v, %v", got, err)
	}
	// The history of a: the failed attempt, the delivery, the replay.
	if h := state(t, s, a.ID).History; len(h) != 3 ||
		h[0].What != outbox.StepRetry || h[0].Status != 503 || h[0].Error != "503 from the app" ||
		h[1].What != outbox.StepDelivered || !h[1].At.Equal(now.Add(time.Minute)) ||
		h[2].What != outbox.StepReplayed || !h[2].At.Equal(got.ReplayedAt) {
		t.Fatalf("history of a = %+v", h)
	}
	if h := state(t, s, b.ID).History; len(h) != 1 || h[0].What != outbox.StepDead || h[0].Error != "gave up" {
		t.Fatalf("history of b = %+v", h)
	}
	if _, err := s.Replay(ctx, a.ID); !errors.Is(err, outbox.ErrAlreadyPending) {
		t.Fatalf("Replay of a pending event = %v, want ErrAlreadyPending", err)
	}
	if n, err := s.ReplayDead(ctx); err != nil || n != 1 {
		t.Fatalf("ReplayDead = %d, %v", n, err)
	}
	due, err = claim(s, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("replayed events due = %v, %v", ids(due), err)
	}
	if got := state(t, s, b.ID); got.State != outbox.StatePending || got.LastError != "" {
		t.Fatalf("b after ReplayDead: %+v", got)
	}
}

func rescheduleLeavesFinal(t *testing.T, open Open) {
	s, another := open(t)
	ev := event("k")
	ev.NextAttempt = time.Now()
	mustAdd(t, s, ev)
	mine := state(t, s, ev.ID)
	// Another instance delivers it meanwhile.
	theirs := state(t, another(), ev.ID)
	if err := another().MarkDelivered(ctx, theirs, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Reschedule(ctx, mine, time.Now().Add(time.Minute), "timeout", 0); !errors.Is(err, outbox.ErrClaimLost) {
		t.Fatalf("Reschedule after delivery elsewhere = %v, want ErrClaimLost", err)
	}
	if got := state(t, s, ev.ID); got.State != outbox.StateDelivered {
		t.Fatalf("Reschedule after delivery elsewhere left the event %s", got.State)
	}
	if due, _ := claim(s, 10); len(due) != 0 {
		t.Fatalf("a delivered event is due: %v", ids(due))
	}
}

func prune(t *testing.T, open Open) {
	s, _ := open(t)
	now := time.Now()
	old, recent, pending := event("old"), event("recent"), event("pending")
	for _, ev := range []*outbox.Event{old, recent, pending} {
		mustAdd(t, s, ev)
	}
	if err := s.MarkDelivered(ctx, old, now.Add(-8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDead(ctx, recent, now.Add(-time.Hour), "x"); err != nil {
		t.Fatal(err)
	}
	p := &outbox.Payment{Profile: "p", PaymentRequestID: "old", CreatedAt: now.Add(-8 * 24 * time.Hour)}
	if _, err := s.AddPayment(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishPayment(ctx, p, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, now, 0)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want the old event and the old payment", n, err)
	}
	if _, err := s.Get(ctx, old.ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("old event after Prune: %v", err)
	}
	for _, ev := range []*outbox.Event{recent, pending} {
		state(t, s, ev.ID)
	}
	// Past retention, a notification is new again.
	if added, err := s.Add(ctx, event("old")); err != nil || !added {
		t.Fatalf("Add after prune = %v, %v", added, err)
	}
}

func payments(t *testing.T, open Open) {
	s, _ := open(t)
	now := time.Now()
	p := &outbox.Payment{Profile: "p", PaymentRequestID: "r1", Amount: outbox.Amount{Currency: "USD", Value: "100"},
		CreatedAt: now.Add(-time.Minute), NextInquiry: now.Add(-time.Second)}
	if added, err := s.AddPayment(ctx, p); err != nil || !added || p.ID != outbox.PaymentRecordID("p", "r1") {
		t.Fatalf("AddPayment = %v, %v (%s)", added, err, p.ID)
	}
	if added, err := s.AddPayment(ctx, &outbox.Payment{Profile: "p", PaymentRequestID: "r1"}); err != nil || added {
		t.Fatalf("second AddPayment = %v, %v", added, err)
	}
	notYet := &outbox.Payment{Profile: "p", PaymentRequestID: "r2", NextInquiry: now.Add(time.Hour)}
	if _, err := s.AddPayment(ctx, notYet); err != nil {
		t.Fatal(err)
	}
	due, err := s.DuePayments(ctx, now, 0)
	if err != nil || len(due) != 1 || due[0].ID != p.ID || due[0].Amount.Value != "100" {
		t.Fatalf("DuePayments = %v, %v", due, err)
	}
	q := due[0]
	q.Attempts, q.NextInquiry, q.LastResult, q.PaymentID = 1, now.Add(time.Minute), "inquiry: PROCESSING", "pay-1"
	if err := s.UpdatePayment(ctx, q); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetPayment(ctx, p.ID); err != nil || got.Attempts != 1 || got.PaymentID != "pay-1" || got.State != outbox.StatePending {
		t.Fatalf("after UpdatePayment: %+v, %v", got, err)
	}
	if n, err := s.CountPayments(ctx, outbox.StatePending); err != nil || n != 2 {
		t.Fatalf("CountPayments(pending) = %d, %v", n, err)
	}
	if err := s.FinishPayment(ctx, q, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	q.Attempts = 99
	if err := s.UpdatePayment(ctx, q); err != nil { // a late update does not reopen it
		t.Fatal(err)
	}
	got, err := s.GetPayment(ctx, p.ID)
	if err != nil || got.State != outbox.StateDone || got.FinalStatus != "SUCCESS" || got.Attempts != 1 {
		t.Fatalf("after FinishPayment: %+v, %v", got, err)
	}
	if l, err := s.ListPayments(ctx, outbox.StateDone, 0); err != nil || len(l) != 1 || l[0].ID != p.ID {
		t.Fatalf("ListPayments(done) = %v, %v", l, err)
	}
	if due, _ := s.DuePayments(ctx, now.Add(2*time.Hour), 0); len(due) != 1 || due[0].ID != notYet.ID {
		t.Fatalf("DuePayments later = %v", due)
	}
	if _, err := s.GetPayment(ctx, outbox.PaymentRecordID("p", "none")); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("GetPayment(missing) = %v", err)
	}
}

func ids(evs []*outbox.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.DedupKey
	}
	return out
}

// search: every filter narrows, newest first, and the pages of a cursor walk cover the result
// exactly once, also across events received in the same microsecond.
func search(t *testing.T, open Open) {
	s, another := open(t)
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var all []*outbox.Event
	for i := range 12 {
		ev := event(fmt.Sprint("s", i))
		ev.ReceivedAt = base.Add(time.Duration(i/2) * time.Second) // pairs share a receipt time
		if i%3 == 0 {
			ev.Type, ev.RequestIDField, ev.RequestID = "REFUND_RESULT", "refundRequestId", "refund-1"
		}
		if i%4 == 0 {
			ev.Source, ev.Kind, ev.Route = outbox.SourceInquiry, "inquiry", "rt_fedcba9876543210"
		}
		mustAdd(t, s, ev)
		all = append(all, ev)
	}
	if err := s.MarkDead(ctx, all[5], base.Add(time.Hour), "gave up"); err != nil {
		t.Fatal(err)
	}

	// Newest first; of a pair received together, the higher id first.
	want := func(match func(i int) bool) []string {
		var out []*outbox.Event
		for i := len(all) - 1; i >= 0; i -= 2 {
			pair := []*outbox.Event{all[i-1], all[i]}
			if pair[0].ID > pair[1].ID {
				pair[0], pair[1] = pair[1], pair[0]
			}
			for _, ev := range []*outbox.Event{pair[1], pair[0]} {
				if match(slices.Index(all, ev)) {
					out = append(out, ev)
				}
			}
		}
		return ids(out)
	}
	for _, tc := range []struct {
		name  string
		f     outbox.Filter
		match func(i int) bool
	}{
		{"all", outbox.Filter{}, func(int) bool { return true }},
		{"state", outbox.Filter{State: outbox.StateDead}, func(i int) bool { return i == 5 }},
		{"type", outbox.Filter{Type: "REFUND_RESULT"}, func(i int) bool { return i%3 == 0 }},
		{"refund request id", outbox.Filter{RequestID: "refund-1"}, func(i int) bool { return i%3 == 0 }},
		{"payment request id", outbox.Filter{RequestID: "req-s7"}, func(i int) bool { return i == 7 }},
		{"payment id", outbox.Filter{PaymentID: "pay-s4"}, func(i int) bool { return i == 4 }},
		{"source", outbox.Filter{Source: outbox.SourceInquiry}, func(i int) bool { return i%4 == 0 }},
		{"kind", outbox.Filter{Kind: "notifyType"}, func(i int) bool { return i%4 != 0 }},
		{"forward", outbox.Filter{Route: "rt_fedcba9876543210", Type: "REFUND_RESULT"}, func(i int) bool { return i%12 == 0 }},
		{"time range", outbox.Filter{Since: base.Add(time.Second), Until: base.Add(3 * time.Second)}, func(i int) bool { return i >= 2 && i < 6 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := want(tc.match)
			var got []string
			var cursor outbox.Cursor
			for page := 0; ; page++ {
				evs, next, err := s.Search(ctx, tc.f, cursor, 3)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) > 3 || page > len(all) {
					t.Fatalf("page %d has %d events (limit 3)", page, len(evs))
				}
				for _, ev := range evs {
					if len(ev.Body) == 0 {
						t.Fatalf("Search returned %s without its body", ev.ID)
					}
				}
				got = append(got, ids(evs)...)
				if next.ID == "" {
					break
				}
				// The cursor survives its text form, as the admin API hands it out.
				if cursor, err = outbox.ParseCursor(next.String()); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Fatalf("Search(%+v) =\n%v\nwant\n%v", tc.f, got, w)
			}
			if evs, _, err := s.Search(ctx, tc.f, outbox.Cursor{}, 0); err != nil || fmt.Sprint(ids(evs)) != fmt.Sprint(w) {
				t.Fatalf("Search without a limit = %v, %v", ids(evs), err)
			}
		})
	}

	// What another instance stores and changes later is found too, in its new state.
	other := event("s-other")
	other.ReceivedAt = base.Add(time.Hour)
	mustAdd(t, another(), other)
	if err := another().MarkDead(ctx, state(t, another(), other.ID), base.Add(2*time.Hour), "x"); err != nil {
		t.Fatal(err)
	}
	if evs, _, err := s.Search(ctx, outbox.Filter{State: outbox.StateDead}, outbox.Cursor{}, 1); err != nil || len(evs) != 1 || evs[0].ID != other.ID {
		t.Fatalf("Search after another instance's writes = %v, %v", ids(evs), err)
	}
}

// redrive: a dry run counts and samples without replaying; the real run replays the delivered
// and dead events the filter matches, and nothing else.
func redrive(t *testing.T, open Open) {
	s, _ := open(t)
	now := time.Now()
	var evs []*outbox.Event
	for i := range 5 {
		ev := event(fmt.Sprint("r", i))
		if i < 4 {
			ev.Type = "REFUND_RESULT"
		}
		mustAdd(t, s, ev)
		evs = append(evs, ev)
	}
	for _, ev := range evs[:2] {
		if err := s.MarkDead(ctx, ev, now, "gave up"); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []*outbox.Event{evs[2], evs[4]} {
		if err := s.MarkDelivered(ctx, ev, now); err != nil {
			t.Fatal(err)
		}
	}
	// evs[3] stays pending; evs[4] is of another type.
	f := outbox.Filter{Type: "REFUND_RESULT"}
	n, sample, err := outbox.Redrive(ctx, s, f, true, 2)
	if err != nil || n != 3 || len(sample) != 2 {
		t.Fatalf("dry run = %d, %v, %v; want 3 and a sample of 2", n, ids(sample), err)
	}
	if got := state(t, s, evs[0].ID); got.State != outbox.StateDead {
		t.Fatalf("a dry run replayed %s", got.ID)
	}
	if n, _, err := outbox.Redrive(ctx, s, f, false, 0); err != nil || n != 3 {
		t.Fatalf("Redrive = %d, %v; want 3", n, err)
	}
	for i, want := range []outbox.State{outbox.StatePending, outbox.StatePending, outbox.StatePending, outbox.StatePending, outbox.StateDelivered} {
		if got := state(t, s, evs[i].ID); got.State != want || (i < 3 && got.ReplayedAt.IsZero()) {
			t.Fatalf("after Redrive event %d is %s (replayed %v), want %s", i, got.State, got.ReplayedAt, want)
		}
	}
	if _, _, err := outbox.Redrive(ctx, s, outbox.Filter{State: outbox.StatePending}, true, 0); err == nil {
		t.Fatal("Redrive of pending events did not fail")
	}
}

// paymentTimeline: found by the order number or by Antom's paymentId, a payment's timeline
// holds its API call, its notification and the delivery outcomes, oldest first.
func paymentTimeline(t *testing.T, open Open) {
	s, _ := open(t)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := &outbox.Payment{Profile: "p", PaymentRequestID: "req-t", Amount: outbox.Amount{Currency: "USD", Value: "100"}, CreatedAt: t0}
	if _, err := s.AddPayment(ctx, p); err != nil {
		t.Fatal(err)
	}
	ev := event("t") // paymentRequestId req-t, paymentId pay-t
	ev.ReceivedAt = t0.Add(time.Second)
	mustAdd(t, s, ev)
	mustAdd(t, s, event("other"))
	ev.LastLatency = 1500 * time.Microsecond
	if err := s.Reschedule(ctx, ev, t0.Add(time.Minute), "503 from the app", 503); err != nil {
		t.Fatal(err)
	}
	ev.LastStatus, ev.LastLatency = 200, 2*time.Millisecond
	if err := s.MarkDelivered(ctx, ev, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, by := range [][2]string{{"req-t", ""}, {"", "pay-t"}} {
		tl, err := outbox.PaymentTimeline(ctx, s, []string{"p", "q"}, by[0], by[1])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range tl.Entries {
			got = append(got, fmt.Sprint(e.What, "/", e.Status, "/", e.LatencyMs))
		}
		want := "[reconcile/0/0 notification/0/0 retry/503/1.5 delivered/200/2]"
		if fmt.Sprint(got) != want || tl.PaymentRequestID != "req-t" || len(tl.Payments) != 1 || tl.Entries[1].EventID != ev.ID {
			t.Fatalf("timeline by %q = %v (%+v), want %s", by, got, tl, want)
		}
	}
}

// pauses: a pause or resume made through one handle is what every handle on the same data reads,
// and pausing twice or resuming what is not paused changes nothing.
func pauses(t *testing.T, open Open) {
	ctx := context.Background()
	s, another := open(t)
	if ids, err := s.PausedRoutes(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("PausedRoutes of a new store = %v, %v; want none", ids, err)
	}
	if err := s.SetPaused(ctx, []string{"rt_b", "rt_a"}, true); err != nil {
		t.Fatal(err)
	}
	other := another()
	if err := other.SetPaused(ctx, []string{"rt_a", "rt_c"}, true); err != nil {
		t.Fatal(err)
	}
	if err := other.SetPaused(ctx, []string{"rt_b", "rt_unknown"}, false); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]outbox.EventStore{"the first handle": s, "another handle": other} {
		if ids, err := st.PausedRoutes(ctx); err != nil || !slices.Equal(ids, []string{"rt_a", "rt_c"}) {
			t.Errorf("PausedRoutes through %s = %v, %v; want [rt_a rt_c]", name, ids, err)
		}
	}
}

func activity(what string, at time.Time, ids ...string) *outbox.Activity {
	a := outbox.NewActivity(what, at)
	for i := 0; i+1 < len(ids); i += 2 {
		a.Name(ids[i], ids[i+1])
	}
	return a
}

func mustAddActivity(t *testing.T, s outbox.EventStore, a *outbox.Activity) {
	t.Helper()
	if err := s.AddActivity(ctx, a); err != nil {
		t.Fatalf("AddActivity(%s): %v", a.What, err)
	}
}

// activities: an activity is found by each id it names, from another handle too, oldest
// first and with all its metadata; Prune drops those older than retention.
func activities(t *testing.T, open Open) {
	s, another := open(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := activity(outbox.ActivityAPICall, now.Add(-10*24*time.Hour), "paymentRequestId", "req-a")
	pay := activity(outbox.ActivityAPICall, now.Add(-time.Minute), "paymentRequestId", "req-a", "paymentId", "pay-a")
	pay.Profile, pay.API, pay.Status, pay.Result, pay.Latency = "p", "v1/payments/pay", 200, "S SUCCESS", 1234*time.Microsecond
	refund := activity(outbox.ActivityAPICall, now, "paymentId", "pay-a", "refundRequestId", "ref-a")
	other := activity(outbox.ActivityInquiry, now, "paymentRequestId", "req-b")
	for _, a := range []*outbox.Activity{refund, old, pay, other, activity(outbox.ActivityAPICall, now)} {
		mustAddActivity(t, s, a)
	}
	ids := func(acts []*outbox.Activity) []string {
		var out []string
		for _, a := range acts {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tc := range []struct {
		field, id string
		want      []*outbox.Activity
	}{
		{"paymentRequestId", "req-a", []*outbox.Activity{old, pay}},
		{"paymentId", "pay-a", []*outbox.Activity{pay, refund}},
		{"refundRequestId", "ref-a", []*outbox.Activity{refund}},
		{"paymentId", "req-a", nil},
	} {
		got, err := another().Activities(ctx, tc.field, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(tc.want)) {
			t.Fatalf("Activities(%s, %s) = %v, want %v", tc.field, tc.id, ids(got), ids(tc.want))
		}
	}
	got, err := s.Activities(ctx, "paymentId", "pay-a")
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Profile != "p" || g.API != "v1/payments/pay" || g.Status != 200 || g.Result != "S SUCCESS" ||
		g.Latency != pay.Latency || !g.At.Equal(pay.At) || g.IDs["paymentRequestId"] != "req-a" {
		t.Fatalf("the activity came back as %+v, want %+v", g, pay)
	}
	if _, err := s.Prune(ctx, now, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Activities(ctx, "paymentRequestId", "req-a"); err != nil || fmt.Sprint(ids(got)) != fmt.Sprint([]string{pay.ID}) {
		t.Fatalf("after Prune Activities = %v, %v; want only the recent one", ids(got), err)
	}
}

// timelineActivities: a payment's timeline holds the activities naming it or its refunds, in
// time order among its events; ids only a rejected notification claims lead nowhere.
func timelineActivities(t *testing.T, open Open) {
	s, _ := open(t)
	t0 := time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)
	ev := event("tl") // paymentRequestId req-tl, paymentId pay-tl
	ev.ReceivedAt = t0.Add(2 * time.Second)
	mustAdd(t, s, ev)
	pay := activity(outbox.ActivityAPICall, t0, "paymentRequestId", "req-tl", "paymentId", "pay-tl")
	pay.Latency = 40 * time.Millisecond
	rejected := activity(outbox.ActivityRejected, t0.Add(time.Second), "paymentRequestId", "req-tl", "paymentId", "pay-forged")
	rejected.Unverified = true
	refund := activity(outbox.ActivityAPICall, t0.Add(3*time.Second), "paymentId", "pay-tl", "refundRequestId", "ref-tl")
	inquiryRefund := activity(outbox.ActivityAPICall, t0.Add(4*time.Second), "refundRequestId", "ref-tl")
	forged := activity(outbox.ActivityAPICall, t0.Add(5*time.Second), "paymentId", "pay-forged")
	for _, a := range []*outbox.Activity{inquiryRefund, refund, rejected, pay, forged} {
		mustAddActivity(t, s, a)
	}
	for _, by := range [][2]string{{"req-tl", ""}, {"", "pay-tl"}} {
		tl, err := outbox.PaymentTimeline(ctx, s, []string{"p"}, by[0], by[1])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range tl.Entries {
			got = append(got, fmt.Sprint(e.What, "/", e.LatencyMs, "/", e.Unverified))
		}
		want := "[api_call/40/false notification_rejected/0/true notification/0/false api_call/0/false api_call/0/false]"
		if fmt.Sprint(got) != want || tl.PaymentRequestID != "req-tl" || tl.PaymentID != "pay-tl" {
			t.Fatalf("timeline by %q = %v (%s, %s), want %s", by, got, tl.PaymentRequestID, tl.PaymentID, want)
		}
	}
}

// backlogs counts pending and dead events per route and finds each route's oldest pending one,
// also through another handle.
func backlogs(t *testing.T, open Open) {
	s, another := open(t)
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const other = "rt_fedcba9876543210"
	var evs []*outbox.Event
	for i := range 6 {
		ev := event(fmt.Sprint("b", i))
		ev.ReceivedAt = base.Add(time.Duration(10-i) * time.Minute) // the last one added is the oldest
		if i%2 == 1 {
			ev.Route = other
		}
		mustAdd(t, s, ev)
		evs = append(evs, ev)
	}
	// Route rt_0123…: b0 delivered, b2 dead, b4 pending. Route other: b1, b3, b5 pending, b5 the oldest.
	if err := s.MarkDelivered(ctx, evs[0], base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDead(ctx, evs[2], base.Add(time.Hour), "gave up"); err != nil {
		t.Fatal(err)
	}
	want := map[string]outbox.Backlog{
		evs[0].Route: {Pending: 1, Dead: 1, OldestPending: evs[4].ReceivedAt},
		other:        {Pending: 3, OldestPending: evs[5].ReceivedAt},
	}
	for name, st := range map[string]outbox.EventStore{"store": s, "another handle": another()} {
		got, err := st.Backlogs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: Backlogs = %+v, want %+v", name, got, want)
		}
		for route, w := range want {
			if g := got[route]; g.Pending != w.Pending || g.Dead != w.Dead || !g.OldestPending.Equal(w.OldestPending) {
				t.Errorf("%s: Backlogs[%s] = %+v, want %+v", name, route, g, w)
			}
		}
	}
}

// release: an event Claim handed out and Release handed back is unchanged (no history step)
// and due again at once, for this handle and another (no claim left on it).
func release(t *testing.T, open Open) {
	s, another := open(t)
	now := time.Now()
	ev := event("rel")
	ev.ReceivedAt, ev.NextAttempt = now.Add(-time.Second), now.Add(-time.Second)
	mustAdd(t, s, ev)
	due, err := claim(s, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("Claim = %v, %v", ids(due), err)
	}
	if err := s.Release(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	got := state(t, s, ev.ID)
	if got.State != outbox.StatePending || len(got.History) != 0 || got.Attempts != 0 || !got.NextAttempt.Equal(ev.NextAttempt) {
		t.Fatalf("after Release: %+v; want it unchanged", got)
	}
	for name, st := range map[string]outbox.EventStore{"this handle": s, "another handle": another()} {
		again, err := claim(st, 10)
		if err != nil || len(again) != 1 || again[0].ID != ev.ID {
			t.Fatalf("Claim through %s after Release = %v, %v; want the event again", name, ids(again), err)
		}
		if err := st.Release(ctx, again[0]); err != nil {
			t.Fatal(err)
		}
	}
}
