package command

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// copy-store moves pending events and payments, recent final events with their ids and recent
// activities, so the PostgreSQL store delivers what was pending and keeps deduplicating what was
// delivered; old final records stay behind, and a second run copies nothing twice. Then the
// same from that database's twin on SQLite.
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
	act := outbox.NewActivity(outbox.ActivityAPICall, now)
	act.Name("paymentRequestId", "r1")
	act.Name("paymentId", "p1")
	if err := src.AddActivity(ctx, act); err != nil {
		t.Fatal(err)
	}

	dst, err := sqlstore.OpenPostgres(pgtest.Start(t).DSN(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var out bytes.Buffer
	if err := copyStore(ctx, &out, fileSource{src}, dst, now.Add(-outbox.DefaultRetention)); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	checkCopied(t, dst, pending, old, pay, act)
	out.Reset()
	if err := copyStore(ctx, &out, fileSource{src}, dst, now.Add(-outbox.DefaultRetention)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out.Bytes(), []byte(": 1 copied")) {
		t.Fatalf("second run copied again:\n%s", out.String())
	}
}

// SQLite to PostgreSQL: the same records arrive, once.
func TestCopyStoreSQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := sqlstore.OpenSQLite(filepath.Join(t.TempDir(), "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	now := time.Now()
	add := func(key string) *outbox.Event {
		ev := &outbox.Event{Profile: "p", Route: "r", DedupKey: key, Body: []byte(`{"k":"` + key + `"}`), NextAttempt: now}
		if _, err := src.Add(ctx, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	var pending []*outbox.Event
	for i := range copyPage + 3 { // more than a page
		pending = append(pending, add(fmt.Sprintf("pending-%d", i)))
	}
	delivered, old := add("delivered"), add("old")
	for ev, at := range map[*outbox.Event]time.Time{delivered: now.Add(-time.Hour), old: now.Add(-30 * 24 * time.Hour)} {
		claimed := claimOne(t, src, ev.ID)
		if err := src.MarkDelivered(ctx, claimed, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.SetPaused(ctx, []string{"rt_paused"}, true); err != nil {
		t.Fatal(err)
	}
	pay := &outbox.Payment{Profile: "p", PaymentRequestID: "r1", NextInquiry: now}
	if _, err := src.AddPayment(ctx, pay); err != nil {
		t.Fatal(err)
	}
	act := outbox.NewActivity(outbox.ActivityAPICall, now)
	act.Name("paymentRequestId", "r1")
	if err := src.AddActivity(ctx, act); err != nil {
		t.Fatal(err)
	}

	dst, err := sqlstore.OpenPostgres(pgtest.Start(t).DSN(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for run := range 2 {
		var out bytes.Buffer
		if err := copyStore(ctx, &out, sqlSource{src}, dst, now.Add(-outbox.DefaultRetention)); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("pending events: %d copied, 0 there already", len(pending))
		if run == 1 {
			want = fmt.Sprintf("pending events: 0 copied, %d there already", len(pending))
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run %d said:\n%s\nwant %q", run+1, out.String(), want)
		}
	}
	for _, ev := range pending {
		if got, err := dst.Get(ctx, ev.ID); err != nil || got.State != outbox.StatePending {
			t.Fatalf("pending event %s after the copy: %+v, %v", ev.ID, got, err)
		}
	}
	if got, err := dst.Get(ctx, delivered.ID); err != nil || got.State != outbox.StateDelivered {
		t.Fatalf("delivered event after the copy: %+v, %v", got, err)
	}
	if _, err := dst.Get(ctx, old.ID); err == nil {
		t.Fatal("an event delivered before --since was copied")
	}
	if acts, err := dst.Activities(ctx, "paymentRequestId", "r1"); err != nil || len(acts) != 1 || acts[0].ID != act.ID {
		t.Fatalf("activities after the copy: %v, %v", acts, err)
	}
	if ids, err := dst.PausedRoutes(ctx); err != nil || !slices.Equal(ids, []string{"rt_paused"}) {
		t.Fatalf("paused forwards after copy: %v, %v; want [rt_paused]", ids, err)
	}
}

// claimOne claims the event with id in s (its route is free).
func claimOne(t *testing.T, s *sqlstore.Store, id string) *outbox.Event {
	t.Helper()
	evs, err := s.Claim(context.Background(), outbox.ClaimRequest{Limit: 1000, Others: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var found *outbox.Event
	for _, ev := range evs {
		if ev.ID == id {
			found = ev
		} else if err := s.Release(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if found == nil {
		t.Fatalf("event %s not claimable", id)
	}
	return found
}

// checkCopied checks what a copy of the file store made of its records.
func checkCopied(t *testing.T, dst *sqlstore.Store, pending, old *outbox.Event, pay *outbox.Payment, act *outbox.Activity) {
	t.Helper()
	ctx := context.Background()

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
	if acts, err := dst.Activities(ctx, "paymentId", "p1"); err != nil || len(acts) != 1 || acts[0].ID != act.ID {
		t.Fatalf("activities after the copy: %v, %v", acts, err)
	}
}
