package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// README, Upgrading: "From SQLite to PostgreSQL (one machine becomes several): caddy antom
// copy-store --from sqlite --to postgres". The SQLite database is testdata/filestore copied by
// copy-store (three pending events, a delivered one, an activity, a paused forward) plus a
// payment under reconciliation and a done one. The binary copies it into PostgreSQL twice: the
// second run copies nothing. PostgreSQL then holds every event with its state, body, route and
// order key, both payments, the activity and the paused forward, as SQLite has them.
func TestCopyStoreSQLiteToPostgres(t *testing.T) {
	t.Parallel()
	data := fileStoreData(t)
	dataDir := filepath.Join(data, "caddy")
	copyStoreRuns(t, nil, []string{"--data-dir", dataDir}, []string{"pending events: 3 copied"})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := sqlstore.OpenSQLite(filepath.Join(dataDir, "antom", "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, ref := range []string{"PAYREQ_COPYPG_PENDING", "PAYREQ_COPYPG_DONE"} {
		p := &outbox.Payment{ID: outbox.PaymentRecordID("default", ref), Profile: "default", PaymentRequestID: ref,
			Amount: outbox.Amount{Currency: "USD", Value: "1000"}, CreatedAt: now, NextInquiry: now.Add(time.Hour), LastResult: "pay: PAYMENT_IN_PROCESS"}
		if _, err := src.AddPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
		if ref == "PAYREQ_COPYPG_DONE" {
			if err := src.FinishPayment(ctx, p, "SUCCESS"); err != nil {
				t.Fatal(err)
			}
		}
	}
	src.Close()

	dsn := pgtest.Start(t).DSN()
	env := map[string]string{"ANTOM_DATABASE_URL": dsn}
	copyStoreRuns(t, env, []string{"--from", "sqlite", "--to", "postgres", "--data-dir", dataDir},
		[]string{"pending events: 3 copied, 0 there already", "delivered events: 1 copied, 0 there already",
			"pending payments: 1 copied, 0 there already", "done payments: 1 copied, 0 there already",
			"activities: 1 read", "paused forwards: 1"},
		[]string{"pending events: 0 copied, 3 there already", "delivered events: 0 copied, 1 there already",
			"pending payments: 0 copied, 1 there already", "done payments: 0 copied, 1 there already"})

	src, err = sqlstore.OpenSQLite(filepath.Join(dataDir, "antom", "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := sqlstore.OpenPostgres(dsn, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDelivered} {
		want, err := src.List(ctx, st, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dst.List(ctx, st, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("PostgreSQL has %d %s events, SQLite %d", len(got), st, len(want))
		}
		byID := map[string]*outbox.Event{}
		for _, ev := range got {
			byID[ev.ID] = ev
		}
		for _, w := range want {
			g := byID[w.ID]
			if g == nil {
				t.Errorf("%s event %s was not copied", st, w.ID)
				continue
			}
			if !bytes.Equal(g.Body, w.Body) || g.Route != w.Route || g.OrderKey != w.OrderKey || g.Attempts != w.Attempts ||
				g.Type != w.Type || g.RequestID != w.RequestID || !g.ReceivedAt.Equal(w.ReceivedAt) {
				t.Errorf("%s event %s in PostgreSQL differs from SQLite's:\n got %+v\nwant %+v", st, w.ID, g, w)
			}
		}
	}
	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDone} {
		want, _ := src.ListPayments(ctx, st, 0)
		got, err := dst.ListPayments(ctx, st, 0)
		if err != nil || len(got) != 1 || len(want) != 1 {
			t.Fatalf("%s payments: PostgreSQL has %d (%v), SQLite %d; want 1 each", st, len(got), err, len(want))
		}
		g, w := *got[0], *want[0]
		g.CreatedAt, w.CreatedAt = g.CreatedAt.UTC(), w.CreatedAt.UTC()
		g.NextInquiry, w.NextInquiry = g.NextInquiry.UTC(), w.NextInquiry.UTC()
		g.ExpiresAt, w.ExpiresAt = g.ExpiresAt.UTC(), w.ExpiresAt.UTC()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s payment in PostgreSQL differs from SQLite's:\n got %+v\nwant %+v", st, g, w)
		}
	}
	wantActs, _ := src.Activities(ctx, "paymentRequestId", "PAYREQ_COPYDONE")
	gotActs, err := dst.Activities(ctx, "paymentRequestId", "PAYREQ_COPYDONE")
	if err != nil || len(gotActs) != 1 || len(wantActs) != 1 || gotActs[0].ID != wantActs[0].ID || gotActs[0].What != wantActs[0].What {
		t.Errorf("activities of PAYREQ_COPYDONE: PostgreSQL %+v (%v), SQLite %+v; want the one copied", gotActs, err, wantActs)
	}
	wantPaused, _ := src.PausedRoutes(ctx)
	gotPaused, err := dst.PausedRoutes(ctx)
	if err != nil || len(wantPaused) != 1 || !slices.Equal(gotPaused, wantPaused) {
		t.Errorf("paused forwards: PostgreSQL %v (%v), SQLite %v; want the one paused", gotPaused, err, wantPaused)
	}
}
