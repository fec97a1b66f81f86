package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	// modernc.org/sqlite is SQLite translated to Go: no cgo, so xcaddy's default
	// CGO_ENABLED=0 builds and Caddy's build service keep working. v1.62.0 embeds SQLite
	// 3.54.1; this store needs 3.42 or later (unixepoch('subsec')), and uses RETURNING (3.35),
	// UPDATE ... with window functions in subqueries (3.25) and json_each.
	_ "modernc.org/sqlite"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// sqliteReaders is the size of the read pool, which WAL lets read beside the writer.
const sqliteReaders = 4

// OpenSQLite opens (creating it and its directory if need be) the SQLite database at path,
// creates or migrates its schema, and returns the Store on it. The database runs in WAL mode
// with synchronous=FULL: a write is answered once it survives a power cut. It has one write
// connection (SQLite has one writer at a time) whose transactions begin IMMEDIATE, and a small
// read pool.
func OpenSQLite(path string, log *zap.Logger) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory of the event database: %w", err)
	}
	// auto_vacuum must be set before the first table is created: the file then shrinks
	// back after pruning (PRAGMA incremental_vacuum) instead of only growing.
	pragmas := "_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)"
	name := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
	w, err := sql.Open("sqlite", name+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening the event database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The readers set only what is per connection: journal mode and auto_vacuum are the
	// file's, and setting them again would take a write lock the writer may hold.
	r, err := sql.Open("sqlite", name+"_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening the event database %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	s := newStore(sqliteDialect{}, w, r, log)
	ctx, cancel := context.WithTimeout(context.Background(), DefaultOpTimeout)
	defer cancel()
	if err := s.ensureSchema(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("the event database %s: %w", path, err)
	}
	return s, nil
}

type sqliteDialect struct{}

func (sqliteDialect) name() string           { return "SQLite" }
func (sqliteDialect) rebind(q string) string { return q }
func (sqliteDialect) now() string            { return "CAST(unixepoch('subsec') * 1000000 AS INTEGER)" }
func (sqliteDialect) later() string {
	return "(CAST(unixepoch('subsec') * 1000000 AS INTEGER) + ?)"
}
func (sqliteDialect) lock() string      { return "" }
func (sqliteDialect) orderLock() string { return "" }
func (sqliteDialect) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}
func (sqliteDialect) jsonText(field string) string { return "json_extract(doc, '$." + field + "')" }
func (sqliteDialect) afterPrune() string           { return "PRAGMA incremental_vacuum" }

func (sqliteDialect) groupCommit() bool { return true }

// unreachable: an embedded database always answers.
func (sqliteDialect) unreachable(error) bool { return false }

// sqliteMigrations bring the schema from user_version i to i+1. Append only. Times are
// microseconds since the Unix epoch, UTC. Indexes a search uses with a bound value are not
// partial: SQLite's planner uses a partial index only when the query's WHERE implies the
// index's, which request_id = ? never does for a request_id other than the empty string.
var sqliteMigrations = []string{
	`CREATE TABLE antom_events (
		id           TEXT PRIMARY KEY,
		profile      TEXT NOT NULL,
		state        TEXT NOT NULL,
		type         TEXT NOT NULL DEFAULT '',
		request_id   TEXT NOT NULL DEFAULT '',
		payment_id   TEXT NOT NULL DEFAULT '',
		route        TEXT NOT NULL DEFAULT '',
		order_key    TEXT NOT NULL DEFAULT '',
		received_at  INTEGER NOT NULL,
		next_attempt INTEGER,
		state_at     INTEGER,
		lease_until  INTEGER,
		claim        TEXT,
		dead_reason  TEXT,
		doc          TEXT NOT NULL
	);
	CREATE INDEX antom_events_due ON antom_events (next_attempt, id) WHERE state = 'pending';
	CREATE INDEX antom_events_order ON antom_events (route, order_key, received_at, id) WHERE state = 'pending';
	CREATE INDEX antom_events_state_received ON antom_events (state, received_at, id);
	CREATE INDEX antom_events_state_route ON antom_events (state, route, received_at);
	CREATE INDEX antom_events_state_at ON antom_events (state, state_at) WHERE state <> 'pending';
	CREATE INDEX antom_events_received ON antom_events (received_at, id);
	CREATE INDEX antom_events_type ON antom_events (type, received_at, id);
	CREATE INDEX antom_events_request_received ON antom_events (request_id, received_at, id);
	CREATE INDEX antom_events_payment_received ON antom_events (payment_id, received_at, id);
	CREATE TABLE antom_payments (
		id                 TEXT PRIMARY KEY,
		profile            TEXT NOT NULL,
		state              TEXT NOT NULL,
		payment_request_id TEXT NOT NULL,
		payment_id         TEXT NOT NULL DEFAULT '',
		created_at         INTEGER NOT NULL,
		next_inquiry       INTEGER,
		lease_until        INTEGER,
		doc                TEXT NOT NULL
	);
	CREATE INDEX antom_payments_due ON antom_payments (next_inquiry, id) WHERE state = 'pending';
	CREATE INDEX antom_payments_state_created ON antom_payments (state, created_at, id);
	CREATE INDEX antom_payments_request_id ON antom_payments (payment_request_id);
	CREATE TABLE antom_paused_routes (
		route_id  TEXT PRIMARY KEY,
		paused_at INTEGER NOT NULL
	);
	CREATE TABLE antom_activity (
		id  TEXT PRIMARY KEY,
		at  INTEGER NOT NULL,
		doc TEXT NOT NULL
	);
	CREATE INDEX antom_activity_at ON antom_activity (at);
	CREATE TABLE antom_activity_ids (
		key         TEXT NOT NULL,
		activity_id TEXT NOT NULL REFERENCES antom_activity (id) ON DELETE CASCADE,
		PRIMARY KEY (key, activity_id)
	) WITHOUT ROWID;
	CREATE INDEX antom_activity_ids_activity ON antom_activity_ids (activity_id);`,
	// claims walk each route's due events in order and stop at its room
	`CREATE INDEX antom_events_route_due ON antom_events (route, next_attempt, id) WHERE state = 'pending';`,
	// delivery outcomes per hour and route (outcomes.go); a database migrated here counts from now on
	`CREATE TABLE antom_outcomes (
		hour      INTEGER NOT NULL,
		route     TEXT NOT NULL,
		shard     INTEGER NOT NULL,
		delivered INTEGER NOT NULL DEFAULT 0,
		failed    INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (hour, route, shard)
	) WITHOUT ROWID;`,
	// claims read antom_events_route_due; one index fewer to write per event
	`DROP INDEX antom_events_due;`,
}

func (sqliteDialect) migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one process migrates at a time
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(sqliteMigrations) {
		return fmt.Errorf("the database has antom schema version %d, newer than this caddy knows (%d); upgrade caddy", version, len(sqliteMigrations))
	}
	for v := version; v < len(sqliteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			return fmt.Errorf("migrating to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(sqliteMigrations))); err != nil {
		return err
	}
	return tx.Commit()
}

func (d sqliteDialect) addActivity(exec execFunc, a *outbox.Activity, doc []byte) error {
	res, err := exec(`INSERT INTO antom_activity (id, at, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		a.ID, d.t(a.At), string(doc))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	for field, id := range a.IDs {
		if _, err := exec(`INSERT INTO antom_activity_ids (key, activity_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			field+":"+id, a.ID); err != nil {
			return err
		}
	}
	return nil
}

func (sqliteDialect) activities() string {
	return `SELECT a.doc FROM antom_activity_ids k JOIN antom_activity a ON a.id = k.activity_id
		WHERE k.key = ? ORDER BY a.at, a.id`
}

func (sqliteDialect) activityArg(field, id string) any { return field + ":" + id }

func (d sqliteDialect) pruneActivities(ctx context.Context, tx *sql.Tx, cutoff time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM antom_activity WHERE id IN
		(SELECT id FROM antom_activity WHERE at < ? LIMIT ?)`, d.t(cutoff), pruneBatch)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
