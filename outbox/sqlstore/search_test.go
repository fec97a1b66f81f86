package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// On PostgreSQL, a search by order number or payment id uses its index also with the generic
// plan of the prepared statement, which the server may choose after five runs (here forced):
// the indexes are partial (on the rows whose id is not empty), and a generic plan can use one only when the
// query says so itself; otherwise it reads the whole table.
func TestPostgresSearchGenericPlanUsesIndexes(t *testing.T) {
	dsn := pgtest.Start(t, "plan_cache_mode=force_generic_plan").DSN()
	s := teststore.Postgres(t, dsn)
	ctx := context.Background()
	settled(t, s, "order", 2000, 10, time.Now())
	for _, f := range []outbox.Filter{{RequestID: "order-1000"}, {PaymentID: "pay-order-1000"}} {
		if evs, _, err := s.Search(ctx, f, outbox.Cursor{}, 10); err != nil || len(evs) != 1 {
			t.Fatalf("Search(%+v) = %d events, %v; want 1", f, len(evs), err)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The server counts index scans when the store's connections report, at the latest 10 s
	// after they went idle.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var request, payment int
		if err := db.QueryRow(`SELECT
			(SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'antom_events_request_received'),
			(SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'antom_events_payment_received')`).Scan(&request, &payment); err != nil {
			t.Fatal(err)
		}
		if request > 0 && payment > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the searches, the order number index was scanned %d times, the payment id index %d times: the generic plan did not use them", request, payment)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
