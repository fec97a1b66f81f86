package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
)

// version returns the schema version just before the migration containing stmt.
func version(t *testing.T, migrations []string, stmt string) int {
	t.Helper()
	i := slices.IndexFunc(migrations, func(q string) bool { return strings.Contains(q, stmt) })
	if i < 0 {
		t.Fatalf("no migration contains %q", stmt)
	}
	return i
}

// oldSQLite writes at path the SQLite schema of version, as that version's store left it, and
// returns a connection to it.
func oldSQLite(t *testing.T, path string, version int) *sql.DB {
	return oldSchema(t, "sqlite", path, sqliteMigrations[:version], fmt.Sprintf("PRAGMA user_version = %d", version))
}

// oldPostgres creates on dsn the PostgreSQL schema of version and returns a connection to it.
func oldPostgres(t *testing.T, dsn string, version int) *sql.DB {
	return oldSchema(t, "pgx", dsn, pgMigrations[:version],
		fmt.Sprintf(`CREATE TABLE antom_schema (version int NOT NULL); INSERT INTO antom_schema VALUES (%d)`, version))
}

// oldSchema runs migrations, then mark (what records their version), on the database driver
// opens at dsn, and returns a connection to it.
func oldSchema(t *testing.T, driver, dsn string, migrations []string, mark string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, q := range append(slices.Clone(migrations), mark) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// The due index, which no query read (claims walk antom_events_route_due), is dropped from an
// existing database, so that no event write keeps it up to date any more.
func TestUnusedDueIndexDropped(t *testing.T) {
	const drop = "DROP INDEX antom_events_due"
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "events.db")
		db := oldSQLite(t, path, version(t, sqliteMigrations, drop))
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'antom_events_due'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("antom_events_due after the migration: %d, %v; want it dropped", n, err)
		}
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgtest.Start(t).DSN()
		db := oldPostgres(t, dsn, version(t, pgMigrations, drop))
		s, err := OpenPostgres(dsn, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Counts(context.Background()); err != nil { // the first use migrates
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_indexes WHERE indexname = 'antom_events_due'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("antom_events_due after the migration: %d, %v; want it dropped", n, err)
		}
	})
}
