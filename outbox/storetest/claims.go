package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

const routeA, routeB = "rt_aaaaaaaaaaaaaaaa", "rt_bbbbbbbbbbbbbbbb"

// due adds an event of route received and due at, some time ago.
func due(t *testing.T, s outbox.EventStore, key, route, orderKey string, ago time.Duration) *outbox.Event {
	t.Helper()
	ev := event(key)
	ev.Route, ev.OrderKey = route, orderKey
	ev.ReceivedAt = time.Now().Add(-ago)
	ev.NextAttempt = ev.ReceivedAt
	mustAdd(t, s, ev)
	return ev
}

// claimPassesOverFullAndPausedRoutes: with limit 1, an earlier due event whose route has no
// room, or is paused, is neither returned nor left claimed; the next route's event is returned.
func claimPassesOverFullAndPausedRoutes(t *testing.T, open Open) {
	s, another := open(t)
	first := due(t, s, "a1", routeA, "", 2*time.Second)
	second := due(t, s, "b1", routeB, "", time.Second)

	got, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 1, Free: map[string]int{routeA: 0, routeB: 1}})
	if err != nil || len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("Claim with route A full = %v, %v; want B's event", ids(got), err)
	}
	if got[0].Claim == "" {
		t.Fatal("a claimed event carries no claim")
	}
	// A's event was not claimed: another instance with room on A gets it at once.
	other := another()
	if got, err := other.Claim(ctx, outbox.ClaimRequest{Limit: 1, Free: map[string]int{routeA: 1, routeB: 1}}); err != nil ||
		len(got) != 1 || got[0].ID != first.ID {
		t.Fatalf("Claim through another handle = %v, %v; want A's event, left unclaimed", ids(got), err)
	} else if err := other.Release(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, got[0]); err != nil {
		t.Fatal(err)
	}

	// Paused: the same.
	if err := s.SetPaused(ctx, []string{routeA}, true); err != nil {
		t.Fatal(err)
	}
	got, err = s.Claim(ctx, outbox.ClaimRequest{Limit: 1, Free: map[string]int{routeA: 1, routeB: 1}})
	if err != nil || len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("Claim with route A paused = %v, %v; want B's event", ids(got), err)
	}
	if err := s.SetPaused(ctx, []string{routeA}, false); err != nil {
		t.Fatal(err)
	}
	if got, err := other.Claim(ctx, outbox.ClaimRequest{Limit: 5, Free: map[string]int{routeA: 1, routeB: 1}}); err != nil ||
		len(got) != 1 || got[0].ID != first.ID {
		t.Fatalf("Claim after the resume = %v, %v; want A's event (B's is claimed)", ids(got), err)
	}
	// Each route's room bounds what is claimed of it; routes not named get Others each.
	s2, _ := open(t)
	for i := range 3 {
		due(t, s2, fmt.Sprint("ra", i), routeA, "", time.Duration(10-i)*time.Second)
		due(t, s2, fmt.Sprint("rb", i), routeB, "", time.Duration(10-i)*time.Second)
	}
	got, err = s2.Claim(ctx, outbox.ClaimRequest{Limit: 10, Free: map[string]int{routeA: 2}, Others: 1})
	if err != nil || len(got) != 3 {
		t.Fatalf("Claim with room 2 on A and 1 on the others = %v, %v", ids(got), err)
	}
	n := map[string]int{}
	for _, ev := range got {
		n[ev.Route]++
	}
	if n[routeA] != 2 || n[routeB] != 1 {
		t.Fatalf("claimed per route %v, want 2 of A and 1 of B", n)
	}
}

// claimKeepsOrder: an event is not claimed while an earlier one of its route and order key is
// pending, even when the earlier one is not due; it is once that one is delivered.
func claimKeepsOrder(t *testing.T, open Open) {
	s, another := open(t)
	pay := due(t, s, "pay", routeA, "payment:P1", 3*time.Second)
	refund := due(t, s, "refund", routeA, "payment:P1", 2*time.Second)
	otherRoute := due(t, s, "other-route", routeB, "payment:P1", time.Second)
	// The payment's first event failed and waits for its retry.
	got, err := claim(s, 10)
	if err != nil || len(got) != 2 || got[0].ID != pay.ID || got[1].ID != otherRoute.ID {
		t.Fatalf("Claim = %v, %v; want the payment result and the other route's event, not the refund", ids(got), err)
	}
	if err := s.Reschedule(ctx, got[0], time.Now().Add(time.Hour), "503", 503); err != nil {
		t.Fatal(err)
	}
	for _, h := range []outbox.EventStore{s, another()} {
		if got, err := claim(h, 10); err != nil || len(got) != 0 {
			t.Fatalf("Claim while the payment result waits for its retry = %v, %v; want nothing", ids(got), err)
		}
	}
	// The other route's event ends with nothing waiting behind it on its route.
	if err := s.MarkDelivered(ctx, got[1], time.Now()); err != nil || got[1].Followed {
		t.Fatalf("MarkDelivered of the other route's event: %v, Followed %v; want no event waiting behind it", err, got[1].Followed)
	}
	cur := state(t, s, pay.ID)
	if err := s.MarkDelivered(ctx, cur, time.Now()); err != nil || !cur.Followed {
		t.Fatalf("MarkDelivered of the payment result: %v, Followed %v; want the refund reported waiting behind it", err, cur.Followed)
	}
	got, err = claim(another(), 10)
	if err != nil || len(got) != 1 || got[0].ID != refund.ID {
		t.Fatalf("Claim after the payment result was delivered = %v, %v; want the refund", ids(got), err)
	}
	if err := s.MarkDead(ctx, got[0], time.Now(), "gone"); err != nil || got[0].Followed {
		t.Fatalf("MarkDead of the last event of the payment: %v, Followed %v; want nothing waiting", err, got[0].Followed)
	}
}

// addDeliveringKeepsOrder: the first attempt of an event whose payment has an earlier event
// pending, or whose route is paused, does not go (deliver is not called), and the event is
// due at once for Claim when its turn comes; through any handle (a restart, another instance).
func addDeliveringKeepsOrder(t *testing.T, open Open) {
	s, another := open(t)
	pay := event("pay")
	pay.Route, pay.OrderKey = routeA, "payment:P2"
	var claimed string
	if added, err := s.AddDelivering(ctx, pay, func() { claimed = pay.Claim }); err != nil || !added || claimed == "" {
		t.Fatalf("AddDelivering of the first event = %v, %v, claim %q; want it claimed for its first attempt", added, err, claimed)
	}
	pay.Attempts = 1
	if err := s.Reschedule(ctx, pay, time.Now().Add(time.Hour), "503", 503); err != nil {
		t.Fatal(err)
	}
	for i, h := range []outbox.EventStore{s, another()} {
		refund := event(fmt.Sprint("refund", i))
		refund.Route, refund.OrderKey = routeA, "payment:P2"
		if added, err := h.AddDelivering(ctx, refund, func() { t.Error("the refund's first attempt went while the payment result is pending") }); err != nil || !added {
			t.Fatalf("AddDelivering of the refund = %v, %v", added, err)
		}
		if got := state(t, s, refund.ID); got.State != outbox.StatePending || got.NextAttempt.After(time.Now()) {
			t.Fatalf("the refund waiting for its turn: %+v; want it pending and due", got)
		}
	}
	if got, err := claim(s, 10); err != nil || len(got) != 0 {
		t.Fatalf("Claim = %v, %v; want nothing before the payment result", ids(got), err)
	}
	// A paused route: its new events wait too.
	if err := s.SetPaused(ctx, []string{routeB}, true); err != nil {
		t.Fatal(err)
	}
	paused := event("paused")
	paused.Route = routeB
	if added, err := s.AddDelivering(ctx, paused, func() { t.Error("a first attempt went to a paused route") }); err != nil || !added {
		t.Fatalf("AddDelivering on a paused route = %v, %v", added, err)
	}
	if got, err := claim(s, 10); err != nil || len(got) != 0 {
		t.Fatalf("Claim with the route paused = %v, %v; want nothing", ids(got), err)
	}
}

// claimsAreExclusive: two instances never hold one event at once; once the first's lease ends
// (it stopped renewing it) the other claims it, and the first's late write changes nothing.
func claimsAreExclusive(t *testing.T, open Open) {
	_, another := open(t)
	a, b, c := another(), another(), another()
	ev := due(t, a, "x", routeA, "", time.Second)
	got, err := a.Claim(ctx, outbox.ClaimRequest{Limit: 1, Others: 1, Lease: time.Second})
	if err != nil || len(got) != 1 {
		t.Fatalf("Claim = %v, %v", ids(got), err)
	}
	stale := got[0]
	if got, err := b.Claim(ctx, outbox.ClaimRequest{Limit: 1, Others: 1}); err != nil || len(got) != 0 {
		t.Fatalf("another instance claimed %v, %v while the first holds it", ids(got), err)
	}
	// The first instance stops (no more renewals); its lease runs out on the store's clock.
	closer, ok := a.(interface{ Close() })
	if !ok {
		t.Fatal("the store has no Close")
	}
	closer.Close()
	var mine []*outbox.Event
	for deadline := time.Now().Add(30 * time.Second); len(mine) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the expired lease was never claimable again")
		}
		time.Sleep(100 * time.Millisecond)
		if mine, err = b.Claim(ctx, outbox.ClaimRequest{Limit: 1, Others: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if mine[0].ID != ev.ID {
		t.Fatalf("claimed %s", mine[0].ID)
	}
	// The stale claim's writes, from any handle, change nothing.
	if err := c.MarkDead(ctx, stale, time.Now(), "stale"); !errors.Is(err, outbox.ErrClaimLost) {
		t.Fatalf("MarkDead with the expired claim = %v, want ErrClaimLost", err)
	}
	if err := c.Reschedule(ctx, stale, time.Now(), "stale", 0); !errors.Is(err, outbox.ErrClaimLost) {
		t.Fatalf("Reschedule with the expired claim = %v, want ErrClaimLost", err)
	}
	if got := state(t, c, ev.ID); got.State != outbox.StatePending || len(got.History) != 0 {
		t.Fatalf("after the stale writes: %+v", got)
	}
	if err := b.MarkDelivered(ctx, mine[0], time.Now()); err != nil {
		t.Fatalf("MarkDelivered by the holder = %v", err)
	}
	// An operator's replay ends every claim: a write with an old one changes nothing.
	if _, err := c.Replay(ctx, ev.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkDead(ctx, stale, time.Now(), "stale"); !errors.Is(err, outbox.ErrClaimLost) {
		t.Fatalf("MarkDead with a claim from before the replay = %v, want ErrClaimLost", err)
	}
}

// unreadableRecordSetAside: a due record that cannot be decoded does not stop the others: they
// are claimed, and it is set aside dead with the reason unreadable_record.
func unreadableRecordSetAside(t *testing.T, open Open, corrupt Corrupt) {
	if corrupt == nil {
		t.Fatal("Run needs a Corrupt for this store")
	}
	s, _ := open(t)
	var evs []*outbox.Event
	for i := range 3 {
		evs = append(evs, due(t, s, fmt.Sprint("u", i), routeA, "", time.Duration(3-i)*time.Second))
	}
	corrupt(t, s, evs[1].ID)
	got, err := claim(s, 10)
	if err != nil || len(got) != 2 || got[0].ID != evs[0].ID || got[1].ID != evs[2].ID {
		t.Fatalf("Claim with an unreadable record among the due ones = %v, %v; want the two readable ones", ids(got), err)
	}
	counts, err := s.Counts(ctx)
	if err != nil || counts[outbox.StateDead] != 1 || counts[outbox.StatePending] != 2 {
		t.Fatalf("Counts = %v, %v; want the unreadable record dead", counts, err)
	}
	if _, err := s.Get(ctx, evs[1].ID); err == nil || !strings.Contains(err.Error(), outbox.ReasonUnreadable) {
		t.Fatalf("Get of the unreadable record = %v; want an error naming %s", err, outbox.ReasonUnreadable)
	}
	if again, err := claim(s, 10); err != nil || len(again) != 0 {
		t.Fatalf("Claim again = %v, %v; want nothing (the others are claimed, the unreadable one dead)", ids(again), err)
	}
	// Listed dead, with what is known of it and what to do, not hidden.
	listed, err := s.List(ctx, outbox.StateDead, 0)
	if err != nil || len(listed) != 1 {
		t.Fatalf("List(dead) = %v, %v; want the unreadable record", ids(listed), err)
	}
	found, _, err := s.Search(ctx, outbox.Filter{State: outbox.StateDead, Route: routeA}, outbox.Cursor{}, 10)
	if err != nil || len(found) != 1 {
		t.Fatalf("Search(dead) = %v, %v; want the unreadable record", ids(found), err)
	}
	for _, got := range []*outbox.Event{listed[0], found[0]} {
		if !got.Unreadable || got.ID != evs[1].ID || got.Route != routeA || !got.ReceivedAt.Equal(evs[1].ReceivedAt.Truncate(time.Microsecond)) ||
			got.State != outbox.StateDead || !strings.HasPrefix(got.LastError, outbox.ReasonUnreadable) || len(got.Body) != 0 {
			t.Fatalf("the unreadable record listed as %+v; want it Unreadable, with its id, route, receipt time and reason, no body", got)
		}
	}
	// Nothing to deliver: replays pass over it.
	if n, err := s.ReplayDead(ctx); err != nil || n != 0 {
		t.Fatalf("ReplayDead = %d, %v; want 0 replayed (the unreadable record has nothing to deliver)", n, err)
	}
	if n, _, err := outbox.Redrive(ctx, s, outbox.Filter{Route: routeA}, true, 10); err != nil || n != 0 {
		t.Fatalf("Redrive(dry run) = %d, %v; want 0 (the readable events are pending, the unreadable one has nothing to deliver)", n, err)
	}
}

// unwrittenOutcomeFreesEvent: a claim whose outcome could not be written (here the write's
// context ended; on a full disk the commit fails) is not kept alive by the claimant: once its
// lease ends the event can be claimed again, and delivered again, by the same store too.
func unwrittenOutcomeFreesEvent(t *testing.T, open Open) {
	s, _ := open(t)
	ev := due(t, s, "unwritten", routeA, "", time.Second)
	ctx := context.Background()
	evs, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 1, Others: 1, Lease: time.Second})
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID {
		t.Fatalf("claim = %v, %v; want %s", ids(evs), err, ev.ID)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.MarkDelivered(ended, evs[0], time.Now()); err == nil {
		t.Fatal("MarkDelivered with an ended context succeeded")
	}
	// The lease is 1 s; a claim still renewed would hold the event for minutes.
	deadline := time.Now().Add(15 * time.Second)
	for {
		again, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 1, Others: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(again) == 1 && again[0].ID == ev.ID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s, whose outcome could not be written, still not claimable after its 1 s lease", ev.ID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
