package outbox

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDueOrderingAndFiltering(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// next attempt offsets in seconds; the last two are in the future.
	offs := []int{30, -10, 0, 20, -5, 61, 3600}
	ids := map[int]string{}
	for i, off := range offs {
		ev := testEvent("p", fmt.Sprint("k", i), "{}")
		ev.ReceivedAt = t0.Add(-time.Hour)
		ev.NextAttempt = t0.Add(time.Duration(off) * time.Second)
		s.Add(ctx, ev)
		ids[off] = ev.ID
	}
	delivered := testEvent("p", "delivered", "{}")
	delivered.NextAttempt = t0.Add(-time.Hour)
	s.Add(ctx, delivered)
	s.MarkDelivered(ctx, delivered, t0)

	now := t0.Add(time.Minute)
	due, err := s.Due(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{-10, -5, 0, 20, 30}
	if len(due) != len(want) {
		t.Fatalf("Due returned %d events, want %d", len(due), len(want))
	}
	for i, off := range want {
		if due[i].ID != ids[off] {
			t.Errorf("Due[%d] = next %v, want offset %ds", i, due[i].NextAttempt.Sub(t0), off)
		}
		if string(due[i].Body) != "{}" {
			t.Errorf("Due[%d] body %q", i, due[i].Body)
		}
	}
	// Limit, and Due is repeatable (no hidden claims).
	due2, _ := s.Due(ctx, now, 2)
	if len(due2) != 2 || due2[0].ID != ids[-10] || due2[1].ID != ids[-5] {
		t.Fatalf("Due limit 2: %v", due2)
	}
	// DueExcept skips what the caller is delivering already.
	due3, _ := s.DueExcept(ctx, now, 2, func(id string) bool { return id == ids[-10] })
	if len(due3) != 2 || due3[0].ID != ids[-5] || due3[1].ID != ids[0] {
		t.Fatalf("DueExcept: %v", due3)
	}
	// Rescheduling moves an event out of the due set.
	s.Reschedule(ctx, due[0], now.Add(time.Hour), "x", 500)
	due4, _ := s.Due(ctx, now, 10)
	if len(due4) != 4 || due4[0].ID != ids[-5] {
		t.Fatalf("after Reschedule: %d", len(due4))
	}
}

// Events written by another instance (or config generation) reach this
// Store's Due through the periodic rescan; the index is only a hint.
func TestDueSeesOtherInstances(t *testing.T) {
	a, fsys := newTestStore(t)
	b := New(fsys)
	a.RescanInterval = time.Hour
	ctx := context.Background()
	t0 := time.Now()

	if due, _ := a.Due(ctx, t0, 10); len(due) != 0 { // loads an empty index
		t.Fatal(due)
	}
	ev := testEvent("p", "from-b", "{}")
	ev.NextAttempt = t0
	b.Add(ctx, ev)
	if due, _ := a.Due(ctx, t0, 10); len(due) != 0 {
		t.Fatal("seen before rescan; index not used?")
	}
	if err := a.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	due, _ := a.Due(ctx, t0, 10)
	if len(due) != 1 || due[0].ID != ev.ID {
		t.Fatalf("after rescan: %v", due)
	}

	// B delivers it: A's stale index entry is dropped, nothing handed out.
	b.MarkDelivered(ctx, ev, t0)
	if due, _ := a.Due(ctx, t0, 10); len(due) != 0 {
		t.Fatal("delivered event still due")
	}

	// B reschedules an event A believes due: storage wins.
	ev2 := testEvent("p", "resched", "{}")
	ev2.NextAttempt = t0
	a.Add(ctx, ev2)
	b2, _ := b.Get(ctx, ev2.ID)
	b.Reschedule(ctx, b2, t0.Add(time.Hour), "x", 503)
	if due, _ := a.Due(ctx, t0, 10); len(due) != 0 {
		t.Fatal("event rescheduled elsewhere still due")
	}
	if due, _ := a.Due(ctx, t0.Add(2*time.Hour), 10); len(due) != 1 {
		t.Fatal("rescheduled event lost from index")
	}
}

// An Add racing with a rescan must not be forgotten by it.
func TestRescanKeepsConcurrentAdds(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			s.Rescan(ctx)
		}
	}()
	for i := range 100 {
		ev := testEvent("p", fmt.Sprint("k", i), "{}")
		ev.NextAttempt = time.Now()
		s.Add(ctx, ev)
	}
	<-done
	due, err := s.Due(ctx, time.Now(), 1000)
	if err != nil || len(due) != 100 {
		t.Fatalf("Due = %d, %v; want 100", len(due), err)
	}
}

func TestAddGrace(t *testing.T) {
	s, _ := newTestStore(t)
	s.Grace = 5 * time.Second
	ctx := context.Background()
	ev := testEvent("p", "k", "{}")
	s.Add(ctx, ev)
	if got := ev.NextAttempt.Sub(ev.ReceivedAt); got != 5*time.Second {
		t.Fatalf("grace = %v", got)
	}
	if due, _ := s.Due(ctx, ev.ReceivedAt.Add(4*time.Second), 10); len(due) != 0 {
		t.Fatal("due during grace")
	}
	if due, _ := s.Due(ctx, ev.ReceivedAt.Add(5*time.Second), 10); len(due) != 1 {
		t.Fatal("not due after grace")
	}
}
