package caddyantom

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// copy-store moves pending events and payments, and recent final events with their ids, so the
// PostgreSQL store delivers what was pending and keeps deduplicating what was delivered; old
// final records stay behind, and a second run copies nothing twice.
func TestCopyStoreFileToPostgres(t *testing.T) {
	ctx := context.Background()
	src := outbox.New(&certmagic.FileStorage{Path: t.TempDir()})
	now := time.Now()
	add := func(key string) *outbox.Event {
		ev := &outbox.Event{Profile: "p", Route: "r", DedupKey: key, Body: []byte(`{"k":"` + key + `"}`), NextAttempt: now}
		if _, err := src.Add(ctx, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	pending, delivered, old := add("pending"), add("delivered"), add("old")
	if err := src.MarkDelivered(ctx, delivered, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := src.MarkDelivered(ctx, old, now.Add(-30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := src.SetPaused(ctx, []string{"rt_paused"}, true); err != nil {
		t.Fatal(err)
	}
	pay := &outbox.Payment{Profile: "p", PaymentRequestID: "r1", NextInquiry: now}
	if _, err := src.AddPayment(ctx, pay); err != nil {
		t.Fatal(err)
	}

	dst, err := sqlstore.OpenPostgres(pgtest.Start(t).DSN(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var out bytes.Buffer
	if err := copyStore(ctx, &out, src, dst, now.Add(-outbox.DefaultRetention)); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())

	if due, err := dst.Claim(ctx, outbox.ClaimRequest{Limit: 10, Others: 10}); err != nil || len(due) != 1 || due[0].ID != pending.ID || string(due[0].Body) != `{"k":"pending"}` {
		t.Fatalf("due after copy = %v, %v; want the pending event", due, err)
	}
	if added, err := dst.Add(ctx, &outbox.Event{Profile: "p", DedupKey: "delivered", Body: []byte(`{}`)}); err != nil || added {
		t.Fatalf("Antom's retry of a delivered notification after the copy: added=%v, %v; want a duplicate", added, err)
	}
	if _, err := dst.Get(ctx, old.ID); err == nil {
		t.Fatal("an event delivered before --since was copied")
	}
	if p, err := dst.GetPayment(ctx, pay.ID); err != nil || p.State != outbox.StatePending {
		t.Fatalf("payment after copy: %+v, %v", p, err)
	}
	if ids, err := dst.PausedRoutes(ctx); err != nil || !slices.Equal(ids, []string{"rt_paused"}) {
		t.Fatalf("paused forwards after copy: %v, %v; want [rt_paused]", ids, err)
	}
	out.Reset()
	if err := copyStore(ctx, &out, src, dst, now.Add(-outbox.DefaultRetention)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out.Bytes(), []byte(": 1 copied")) {
		t.Fatalf("second run copied again:\n%s", out.String())
	}
}
