package command

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/filestore"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// copy-store moves pending events and payments, recent final events with their ids and recent
// activities, so the PostgreSQL store delivers what was pending and keeps deduplicating what was
// delivered; old final records stay behind, and a second run copies nothing twice. The source is
// the file store the last binary with antom_store caddy_storage wrote (e2e/testdata/filestore),
// plus a payment under reconciliation and an event delivered long ago, written as it wrote them.
func TestCopyStoreFileToPostgres(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if err := os.CopyFS(data, os.DirFS(filepath.Join("..", "e2e", "testdata", "filestore"))); err != nil {
		t.Fatal(err)
	}
	written := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC) // when the fixture was
	pay := &outbox.Payment{ID: outbox.PaymentRecordID("default", "r1"), Profile: "default", PaymentRequestID: "r1", CreatedAt: written, NextInquiry: written, State: outbox.StatePending}
	long := written.Add(-30 * 24 * time.Hour)
	old := &outbox.Event{ID: outbox.EventID("default", "old"), Profile: "default", Route: "r", DedupKey: "old", Body: []byte(`{}`),
		ReceivedAt: long, DeliveredAt: long, State: outbox.StateDelivered}
	for name, v := range map[string]any{"payments/pending/" + pay.ID: pay, "events/delivered/" + old.ID: old} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(data, "antom", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src, err := filestore.Open(data)
	if err != nil {
		t.Fatal(err)
	}

	dst, err := sqlstore.OpenPostgres(pgtest.Start(t).DSN(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	since := written.Add(-outbox.DefaultRetention)
	for run, want := range []string{"pending events: 3 copied, 0 there already", "pending events: 0 copied, 3 there already"} {
		var out bytes.Buffer
		if err := copyStore(ctx, &out, fileSource{src}, dst, since); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) || run == 1 && bytes.Contains(out.Bytes(), []byte(": 1 copied")) {
			t.Fatalf("run %d said:\n%s\nwant %q and nothing copied twice", run+1, out.String(), want)
		}
	}

	for _, id := range []string{"msg_135866513c3f57c91f8bd4a5d4bf98c8", "msg_23ac74494d3f1b959947522af8f2a759", "msg_2604f554c6750de19411e39e5af6df34"} {
		if got, err := dst.Get(ctx, id); err != nil || got.State != outbox.StatePending || got.OrderKey != "payment:2024010119401080010018COPY1" {
			t.Fatalf("pending event %s after the copy: %+v, %v", id, got, err)
		}
	}
	retry := &outbox.Event{Profile: "default", DedupKey: "payment:2024010119401080010018COPYDONE:PAYMENT_RESULT", Body: []byte(`{}`)}
	if added, err := dst.Add(ctx, retry); err != nil || added {
		t.Fatalf("Antom's retry of a delivered notification after the copy: added=%v, %v; want a duplicate", added, err)
	}
	if _, err := dst.Get(ctx, old.ID); err == nil {
		t.Fatal("an event delivered before --since was copied")
	}
	if p, err := dst.GetPayment(ctx, pay.ID); err != nil || p.State != outbox.StatePending {
		t.Fatalf("payment after copy: %+v, %v", p, err)
	}
	if ids, err := dst.PausedRoutes(ctx); err != nil || !slices.Equal(ids, []string{"rt_3b6b8e621a748381"}) {
		t.Fatalf("paused forwards after copy: %v, %v; want [rt_3b6b8e621a748381]", ids, err)
	}
	if acts, err := dst.Activities(ctx, "paymentId", "2024010119401080010018COPYDONE"); err != nil || len(acts) != 1 || acts[0].ID != "act_b33cee7a6657d097391839e64d00dbc2" {
		t.Fatalf("activities after the copy: %v, %v", acts, err)
	}
}

// SQLite to PostgreSQL: the same records arrive, once.
func TestCopyStoreSQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	srcPath := filepath.Join(t.TempDir(), "events.db")
	src, err := sqlstore.OpenSQLite(srcPath, nil)
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
	// A dead record that cannot be read is left behind, and the copy says so.
	broken := add("broken")
	db, err := sql.Open("sqlite", "file:"+srcPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE antom_events SET doc = 'not json', state = 'dead', state_at = ? WHERE id = ?`, now.UnixMicro(), broken.ID); err != nil {
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
		for _, want := range []string{want, "dead events: 1 not copied, their records cannot be read (unreadable_record)"} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("run %d said:\n%s\nwant %q", run+1, out.String(), want)
			}
		}
	}
	if _, err := dst.Get(ctx, broken.ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("the unreadable record after the copy: %v; want it left behind", err)
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
