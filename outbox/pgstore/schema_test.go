package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// A database at schema version 1, with an event in it, is migrated to the current version and
// its event is found by the searches the new indexes serve.
func TestMigratesFromVersion1(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t).DSN()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		migrations[0],
		`CREATE TABLE antom_schema (version int NOT NULL); INSERT INTO antom_schema VALUES (1)`,
		`INSERT INTO antom_events (id, profile, state, type, request_id, payment_id, received_at, doc)
			VALUES ('msg_0123456789abcdef0123456789abcdef', 'p', 'dead', 'PAYMENT_RESULT', 'ORDER-1', 'P-1', now(),
			'{"id":"msg_0123456789abcdef0123456789abcdef","profile":"p","requestId":"ORDER-1","body":"eyJwYXltZW50SWQiOiJQLTEifQ=="}')`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(dsn, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []outbox.Filter{{RequestID: "ORDER-1"}, {PaymentID: "P-1"}, {State: outbox.StateDead}} {
		evs, _, err := s.Search(ctx, f, outbox.Cursor{}, 10)
		if err != nil || len(evs) != 1 || evs[0].State != outbox.StateDead {
			t.Fatalf("Search(%+v) after the migration = %v, %v", f, evs, err)
		}
	}
	var version int
	if err := conn.QueryRow(ctx, `SELECT version FROM antom_schema`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
}
