package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations bring the schema from version i to i+1. Append only: never edit a released step.
var migrations = []string{
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
}

// schemaLock is the advisory lock key under which instances migrate, one at a time.
const schemaLock = 0x616e746f6d // "antom"

// ensureSchema creates or migrates the schema once per Store, under a transaction-scoped
// advisory lock so that instances starting together migrate one after the other.
func (s *Store) ensureSchema(ctx context.Context) error {
	if s.schemaReady.Load() {
		return nil
	}
	// One migration attempt at a time, and waiting for it is bounded by ctx like the
	// operation itself (a database that does not answer must not queue requests up).
	select {
	case s.schemaTurn <- struct{}{}:
		defer func() { <-s.schemaTurn }()
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.schemaReady.Load() {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS antom_schema (version int NOT NULL)`); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM antom_schema`).Scan(&version)
		if err == pgx.ErrNoRows {
			_, err = tx.Exec(ctx, `INSERT INTO antom_schema VALUES (0)`)
		}
		if err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("the database has antom schema version %d, newer than this caddy knows (%d); upgrade caddy", version, len(migrations))
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrating the antom schema to version %d: %w", v+1, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE antom_schema SET version = $1`, len(migrations))
		return err
	})
	if err == nil {
		s.schemaReady.Store(true)
	}
	return err
}
