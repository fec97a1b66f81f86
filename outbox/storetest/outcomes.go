package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// hourlyOutcomes: every outcome an outcome write records counts once, in its route's hour (a
// first attempt's through AddDelivering too), for every handle on the store; a write that
// changed nothing (its claim lost) and a replay count nothing; Prune drops the hours past
// retention.
func hourlyOutcomes(t *testing.T, open Open) {
	s, another := open(t)
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	const b = "rt_bbbbbbbbbbbbbbbb"
	a := event("a").Route

	delivered := event("delivered")
	mustAdd(t, s, delivered)
	stale := *delivered
	if err := s.MarkDelivered(ctx, delivered, base.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, &stale, base.Add(11*time.Minute)); !errors.Is(err, outbox.ErrClaimLost) {
		t.Fatalf("MarkDelivered of a delivered event = %v, want ErrClaimLost", err)
	}
	replayed, err := s.Replay(ctx, delivered.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, replayed, base.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}

	retried := event("retried")
	mustAdd(t, s, retried)
	if err := s.Reschedule(ctx, retried, time.Now().Add(time.Minute), "HTTP 500", 500); err != nil {
		t.Fatal(err)
	}
	retryHour := retried.History[len(retried.History)-1].At.UTC().Truncate(time.Hour)
	if err := s.MarkDead(ctx, retried, base.Add(2*time.Hour+5*time.Minute), "gave up"); err != nil {
		t.Fatal(err)
	}

	dead := event("dead")
	dead.Route = b
	mustAdd(t, s, dead)
	if err := s.MarkDead(ctx, dead, base.Add(59*time.Minute), "gave up"); err != nil {
		t.Fatal(err)
	}
	first := event("first")
	first.Route = b
	var deliverErr error
	if added, err := s.AddDelivering(ctx, first, func() {
		deliverErr = s.MarkDelivered(ctx, first, base.Add(2*time.Hour))
	}); err != nil || !added || deliverErr != nil {
		t.Fatalf("AddDelivering = %v, %v; its MarkDelivered: %v", added, err, deliverErr)
	}

	want := map[string][]outbox.HourOutcomes{
		a: {{Hour: base, Delivered: 2}, {Hour: base.Add(2 * time.Hour), Failed: 1}, {Hour: retryHour, Failed: 1}},
		b: {{Hour: base, Failed: 1}, {Hour: base.Add(2 * time.Hour), Delivered: 1}},
	}
	check := func(s outbox.EventStore, since time.Time, want map[string][]outbox.HourOutcomes) {
		t.Helper()
		got, err := s.HourlyOutcomes(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		for route, hours := range got {
			for i := range hours {
				if hours[i].Hour.Location() != time.UTC {
					t.Errorf("HourlyOutcomes: %s's hour %v is not in UTC", route, hours[i].Hour)
				}
				hours[i].Hour = hours[i].Hour.UTC() // compared as instants below
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("HourlyOutcomes(since %v) = %+v\nwant %+v", since, got, want)
		}
	}
	check(s, base.Add(30*time.Minute), want) // since's hour included
	check(another(), base, want)
	check(s, base.Add(time.Hour), map[string][]outbox.HourOutcomes{a: want[a][1:], b: want[b][1:]})
	check(s, retryHour.Add(time.Hour), map[string][]outbox.HourOutcomes{})

	if _, err := s.Prune(ctx, base.Add(outbox.DefaultRetention+time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	check(s, base, map[string][]outbox.HourOutcomes{a: want[a][1:], b: want[b][1:]})
}
