package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// OpenPostgres returns the Store on the PostgreSQL database the DSN names (libpq key=value or
// URL form; sslmode and the other TLS parameters apply as written). It does not connect: the
// first operation does, and creates or migrates the schema first, under an advisory lock so
// that instances starting together migrate one after the other. maxConns <= 0 means 4.
func OpenPostgres(dsn string, maxConns int, log *zap.Logger) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included: say only what is wrong.
		return nil, errors.New("the PostgreSQL dsn does not parse; write it as postgres://user:password@host:port/database?sslmode=verify-full or as key=value pairs")
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > DefaultOpTimeout {
		cfg.ConnectTimeout = DefaultOpTimeout
	}
	if maxConns <= 0 {
		maxConns = 4
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	return newStore(postgresDialect{}, db, db, log), nil
}

type postgresDialect struct{}

func (postgresDialect) name() string { return "PostgreSQL" }

func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (postgresDialect) now() string { return "now()" }
func (postgresDialect) later() string {
	return "(now() + CAST(? AS bigint) * interval '1 microsecond')"
}
func (postgresDialect) lock() string      { return " FOR UPDATE SKIP LOCKED" }
func (postgresDialect) orderLock() string { return "SELECT pg_advisory_xact_lock(hashtext(?))" }
func (postgresDialect) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
func (postgresDialect) jsonText(field string) string { return "doc->>'" + field + "'" }
func (postgresDialect) afterPrune() string           { return "" }

func (postgresDialect) groupCommit() bool { return false }

// unreachable: anything but an answer of the server, a caller that gave up, or a store error.
func (postgresDialect) unreachable(err error) bool {
	var pgErr *pgconn.PgError
	return !errors.As(err, &pgErr) && !errors.Is(err, context.Canceled) && !errors.Is(err, sql.ErrNoRows) &&
		!errors.Is(err, outbox.ErrNotFound) && !errors.Is(err, outbox.ErrAlreadyPending) &&
		!errors.Is(err, outbox.ErrClaimLost) && !errors.Is(err, outbox.ErrInvalidID) && !errors.Is(err, errClosed)
}

// pgMigrations bring the schema from version i to i+1. Append only: never edit a released
// step. Versions 1 to 4 are those of the earlier PostgreSQL store, whose databases this one
// carries forward.
var pgMigrations = []string{
	`CREATE TABLE antom_events (
		id           text PRIMARY KEY,
		profile      text NOT NULL,
		state        text NOT NULL,
		type         text NOT NULL DEFAULT '',
		request_id   text NOT NULL DEFAULT '',
		payment_id   text NOT NULL DEFAULT '',
		received_at  timestamptz NOT NULL,
		next_attempt timestamptz,
		state_at     timestamptz,
		lease_until  timestamptz,
		doc          jsonb NOT NULL
	);
	CREATE INDEX antom_events_due ON antom_events (next_attempt, id) WHERE state = 'pending';
	CREATE INDEX antom_events_state_received ON antom_events (state, received_at, id);
	CREATE INDEX antom_events_state_at ON antom_events (state, state_at) WHERE state <> 'pending';
	CREATE INDEX antom_events_type ON antom_events (type, received_at);
	CREATE INDEX antom_events_request_id ON antom_events (request_id) WHERE request_id <> '';
	CREATE INDEX antom_events_payment_id ON antom_events (payment_id) WHERE payment_id <> '';
	CREATE TABLE antom_payments (
		id                 text PRIMARY KEY,
		profile            text NOT NULL,
		state              text NOT NULL,
		payment_request_id text NOT NULL,
		payment_id         text NOT NULL DEFAULT '',
		created_at         timestamptz NOT NULL,
		next_inquiry       timestamptz,
		lease_until        timestamptz,
		doc                jsonb NOT NULL
	);
	CREATE INDEX antom_payments_due ON antom_payments (next_inquiry, id) WHERE state = 'pending';
	CREATE INDEX antom_payments_state_created ON antom_payments (state, created_at, id);
	CREATE INDEX antom_payments_request_id ON antom_payments (payment_request_id);
	CREATE INDEX antom_payments_payment_id ON antom_payments (payment_id) WHERE payment_id <> '';`,
	// Searches, newest first (outbox.EventStore.Search): over every state, and by request or
	// payment id in receipt order (which the plain id indexes could not give, so a planner
	// without statistics walked the time index instead).
	`CREATE INDEX antom_events_received ON antom_events (received_at, id);
	CREATE INDEX antom_events_request_received ON antom_events (request_id, received_at, id) WHERE request_id <> '';
	CREATE INDEX antom_events_payment_received ON antom_events (payment_id, received_at, id) WHERE payment_id <> '';
	DROP INDEX antom_events_request_id;
	DROP INDEX antom_events_payment_id;`,
	// Paused forwards, shared by every instance (outbox.EventStore.SetPaused).
	`CREATE TABLE antom_paused_routes (
		route_id  text PRIMARY KEY,
		paused_at timestamptz NOT NULL DEFAULT now()
	);`,
	// Activities (outbox.Activity): found by any id they name, pruned by time.
	`CREATE TABLE antom_activity (
		id  text PRIMARY KEY,
		at  timestamptz NOT NULL,
		ids jsonb NOT NULL,
		doc jsonb NOT NULL
	);
	CREATE INDEX antom_activity_ids ON antom_activity USING gin (ids jsonb_path_ops);
	CREATE INDEX antom_activity_at ON antom_activity (at);`,
	// One queue design with SQLite (this package): the route and order key as columns, for
	// claims that leave out paused routes and events behind an earlier one of their payment;
	// claims by token; a dead record's reason. Existing rows get theirs from their documents.
	`ALTER TABLE antom_events ADD COLUMN route text NOT NULL DEFAULT '',
		ADD COLUMN order_key text NOT NULL DEFAULT '',
		ADD COLUMN claim text,
		ADD COLUMN dead_reason text;
	UPDATE antom_events SET route = COALESCE(doc->>'route', ''), order_key = COALESCE(doc->>'orderKey', '');
	CREATE INDEX antom_events_order ON antom_events (route, order_key, received_at, id) WHERE state = 'pending';
	CREATE INDEX antom_events_state_route ON antom_events (state, route, received_at);
	DROP INDEX antom_events_type;
	CREATE INDEX antom_events_type ON antom_events (type, received_at, id);`,
	// claims walk each route's due events in order and stop at its room
	`CREATE INDEX antom_events_route_due ON antom_events (route, next_attempt, id) WHERE state = 'pending';`,
	// Delivery outcomes per hour and route (outcomes.go); a database migrated here counts from
	// now on.
	`CREATE TABLE antom_outcomes (
		hour      timestamptz NOT NULL,
		route     text NOT NULL,
		shard     smallint NOT NULL,
		delivered bigint NOT NULL DEFAULT 0,
		failed    bigint NOT NULL DEFAULT 0,
		PRIMARY KEY (hour, route, shard)
	);`,
	// Claims read antom_events_route_due; one index fewer to write per event.
	`DROP INDEX antom_events_due;`,
}

// schemaLock is the advisory lock key under which instances migrate, one at a time.
const schemaLock = 0x616e746f6d // "antom"

func (postgresDialect) migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS antom_schema (version int NOT NULL)`); err != nil {
		return err
	}
	var version int
	err = tx.QueryRowContext(ctx, `SELECT version FROM antom_schema`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `INSERT INTO antom_schema VALUES (0)`)
	}
	if err != nil {
		return err
	}
	if version > len(pgMigrations) {
		return fmt.Errorf("the database has antom schema version %d, newer than this caddy knows (%d); upgrade caddy", version, len(pgMigrations))
	}
	for v := version; v < len(pgMigrations); v++ {
		if _, err := tx.ExecContext(ctx, pgMigrations[v]); err != nil {
			return fmt.Errorf("migrating to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE antom_schema SET version = $1`, len(pgMigrations)); err != nil {
		return err
	}
	return tx.Commit()
}

func (d postgresDialect) addActivity(exec execFunc, a *outbox.Activity, doc []byte) error {
	ids, err := json.Marshal(a.IDs)
	if err != nil {
		return err
	}
	_, err = exec(`INSERT INTO antom_activity (id, at, ids, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.At, string(ids), string(doc))
	return err
}

// activities uses the GIN index on ids (jsonb_path_ops) through @>.
func (postgresDialect) activities() string {
	return `SELECT doc FROM antom_activity WHERE ids @> CAST(? AS jsonb) ORDER BY at, id`
}

func (postgresDialect) activityArg(field, id string) any {
	b, _ := json.Marshal(map[string]string{field: id})
	return string(b)
}

func (postgresDialect) pruneActivities(ctx context.Context, tx *sql.Tx, cutoff time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM antom_activity WHERE id IN
		(SELECT id FROM antom_activity WHERE at < $1 LIMIT $2)`, cutoff, pruneBatch)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
