package sqlstore

import (
	"context"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// A database of the earlier PostgreSQL store (schema version 4), with a pending event held by
// that store's lease, a dead one, a payment, a paused forward and an activity, is carried
// forward: every row is kept, and the pending event is claimed with its route and order key.
func TestPostgresMigratesFromVersion4(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t).DSN()
	db := oldPostgres(t, dsn, 4)
	const pending, dead = "msg_0123456789abcdef0123456789abcdef", "msg_fedcba9876543210fedcba9876543210"
	stmts := []string{
		`INSERT INTO antom_events (id, profile, state, type, request_id, payment_id, received_at, next_attempt, lease_until, doc)
			VALUES ('` + pending + `', 'p', 'pending', 'PAYMENT_RESULT', 'ORDER-1', 'P-1', now() - interval '1 minute',
			now() - interval '1 minute', now() - interval '1 second',
			'{"id":"` + pending + `","profile":"p","route":"rt_0123456789abcdef","orderKey":"payment:P-1","requestId":"ORDER-1","body":"eyJwYXltZW50SWQiOiJQLTEifQ=="}')`,
		`INSERT INTO antom_events (id, profile, state, type, request_id, payment_id, received_at, state_at, doc)
			VALUES ('` + dead + `', 'p', 'dead', 'REFUND_RESULT', 'REFUND-1', 'P-1', now(), now(),
			'{"id":"` + dead + `","profile":"p","route":"rt_0123456789abcdef","requestId":"REFUND-1","body":"e30="}')`,
		`INSERT INTO antom_payments (id, profile, state, payment_request_id, created_at, doc)
			VALUES ('pay_0123456789abcdef0123456789abcdef', 'p', 'done', 'ORDER-1', now(), '{"id":"pay_0123456789abcdef0123456789abcdef","profile":"p","paymentRequestId":"ORDER-1"}')`,
		`INSERT INTO antom_paused_routes (route_id) VALUES ('rt_fedcba9876543210')`,
		`INSERT INTO antom_activity (id, at, ids, doc) VALUES ('act_0123456789abcdef0123456789abcdef', now(),
			'{"paymentRequestId":"ORDER-1"}', '{"id":"act_0123456789abcdef0123456789abcdef","what":"api_call","ids":{"paymentRequestId":"ORDER-1"}}')`,
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	s, err := OpenPostgres(dsn, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []outbox.Filter{{RequestID: "ORDER-1"}, {PaymentID: "P-1", State: outbox.StateDead}, {Route: "rt_0123456789abcdef", State: outbox.StatePending}} {
		evs, _, err := s.Search(ctx, f, outbox.Cursor{}, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("Search(%+v) after the migration = %v, %v", f, evs, err)
		}
	}
	if ids, err := s.PausedRoutes(ctx); err != nil || len(ids) != 1 || ids[0] != "rt_fedcba9876543210" {
		t.Fatalf("paused forwards after the migration = %v, %v", ids, err)
	}
	if acts, err := s.Activities(ctx, "paymentRequestId", "ORDER-1"); err != nil || len(acts) != 1 {
		t.Fatalf("activities after the migration = %v, %v", acts, err)
	}
	if n, err := s.CountPayments(ctx, outbox.StateDone); err != nil || n != 1 {
		t.Fatalf("done payments after the migration = %d, %v", n, err)
	}
	// The old store's expired lease does not hold the event; its order key is a column now.
	evs, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Others: 10, Lease: time.Minute})
	if err != nil || len(evs) != 1 || evs[0].ID != pending {
		t.Fatalf("Claim after the migration = %v, %v", evs, err)
	}
	var route, orderKey string
	var version int
	if err := db.QueryRowContext(ctx, `SELECT route, order_key FROM antom_events WHERE id = $1`, pending).Scan(&route, &orderKey); err != nil ||
		route != "rt_0123456789abcdef" || orderKey != "payment:P-1" {
		t.Fatalf("route and order key after the migration = %q, %q, %v", route, orderKey, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT version FROM antom_schema`).Scan(&version); err != nil || version != len(pgMigrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(pgMigrations))
	}
}
