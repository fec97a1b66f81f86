package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/pgstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

func open(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(dsn, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestContractPostgres(t *testing.T) {
	server := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		dsn := server.DSN()
		return open(t, dsn), func() outbox.EventStore { return open(t, dsn) }
	})
}

// Due events are claimed: a second instance does not get what the first holds, and gets it
// once the first recorded a retry.
func TestClaimsSkipWhatAnotherInstanceHolds(t *testing.T) {
	dsn := pgtest.Start(t).DSN()
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	now := time.Now()
	for i := range 6 {
		ev := &outbox.Event{Profile: "p", Route: "r", DedupKey: fmt.Sprint("k", i), Body: []byte(`{}`), NextAttempt: now}
		if added, err := a.Add(ctx, ev); err != nil || !added {
			t.Fatal(added, err)
		}
	}
	first, err := a.DueExcept(ctx, now, 4, nil)
	if err != nil || len(first) != 4 {
		t.Fatalf("a claimed %d, %v", len(first), err)
	}
	second, err := b.DueExcept(ctx, now, 10, nil)
	if err != nil || len(second) != 2 {
		t.Fatalf("b claimed %d, %v; want the 2 a does not hold", len(second), err)
	}
	for _, ev := range second {
		for _, mine := range first {
			if ev.ID == mine.ID {
				t.Fatalf("%s handed to both instances", ev.ID)
			}
		}
	}
	if err := a.Reschedule(ctx, first[0], now, "503", 503); err != nil {
		t.Fatal(err)
	}
	if again, err := b.DueExcept(ctx, now, 10, nil); err != nil || len(again) != 1 || again[0].ID != first[0].ID {
		t.Fatalf("after a's retry was recorded b claimed %v, %v", again, err)
	}
}

// With PostgreSQL down, Add fails (the handler answers 503), background work pauses, and the log
// says so once; the password in the DSN is nowhere. After the restart everything works again.
func TestUnreachableLogsOnceAndRecovers(t *testing.T) {
	server := pgtest.Start(t)
	dsn := strings.Replace(server.DSN(), "postgres@", "postgres:s3cret-pw@", 1)
	core, logs := observer.New(zap.DebugLevel)
	s, err := pgstore.New(dsn, 4, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx := context.Background()
	if _, err := s.Add(ctx, &outbox.Event{Profile: "p", DedupKey: "before", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// A caller that gives up (Antom hanging up) is no outage.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Add(cancelled, &outbox.Event{Profile: "p", DedupKey: "hung-up", Body: []byte(`{}`)}); err == nil {
		t.Fatal("Add with a cancelled context succeeded")
	}
	if logs.Len() != 0 {
		t.Fatalf("a cancelled caller was logged as an outage: %v", logs.All())
	}
	server.Stop()
	for i := range 5 {
		_, err := s.Add(ctx, &outbox.Event{Profile: "p", DedupKey: fmt.Sprint("down", i), Body: []byte(`{}`)})
		if err == nil {
			t.Fatal("Add succeeded with PostgreSQL down")
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
		// Background work pauses quietly: the outage is the store's to log, once.
		if due, err := s.DueExcept(ctx, time.Now(), 10, nil); len(due) != 0 || err != nil {
			t.Fatalf("DueExcept while down = %v, %v", due, err)
		}
	}
	if n := logs.FilterMessageSnippet("unreachable").Len(); n != 1 {
		t.Fatalf("the outage was logged %d times, want once", n)
	}
	server.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Add(ctx, &outbox.Event{Profile: "p", DedupKey: "after", Body: []byte(`{}`)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Add still fails after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if logs.FilterMessageSnippet("deliveries resume").Len() != 1 {
		t.Fatalf("recovery not logged: %v", logs.All())
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), "s3cret") {
			t.Fatalf("log shows the password: %v", e)
		}
	}
	if c, err := s.Counts(ctx); err != nil || c[outbox.StatePending] != 2 {
		t.Fatalf("Counts = %v, %v; want the events before and after", c, err)
	}
}

// Prune deletes in batches until everything past retention is gone, and nothing else.
func TestPruneBeyondOneBatch(t *testing.T) {
	s := open(t, pgtest.Start(t).DSN())
	ctx := context.Background()
	old := time.Now().Add(-30 * 24 * time.Hour)
	const n = 1234
	for i := range n {
		ev := &outbox.Event{ID: outbox.EventID("p", fmt.Sprint(i)), Profile: "p", DedupKey: fmt.Sprint(i),
			Body: []byte(`{}`), ReceivedAt: old, State: outbox.StateDelivered, DeliveredAt: old}
		if added, err := s.Import(ctx, ev); err != nil || !added {
			t.Fatal(added, err)
		}
	}
	if _, err := s.Add(ctx, &outbox.Event{Profile: "p", DedupKey: "pending", Body: []byte(`{}`), ReceivedAt: old}); err != nil {
		t.Fatal(err)
	}
	pruned, err := s.Prune(ctx, time.Now(), 0)
	if err != nil || pruned != n {
		t.Fatalf("Prune = %d, %v; want %d", pruned, err, n)
	}
	if c, err := s.Counts(ctx); err != nil || c[outbox.StateDelivered] != 0 || c[outbox.StatePending] != 1 {
		t.Fatalf("Counts after Prune = %v, %v", c, err)
	}
}
