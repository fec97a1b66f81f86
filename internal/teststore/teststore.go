// Package teststore opens throwaway event stores for the tests of the packages that use one.
package teststore

import (
	"path/filepath"
	"testing"

	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// SQLite opens a new SQLite event store in a temporary directory of t, closed when t ends.
func SQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	return OpenSQLite(t, filepath.Join(t.TempDir(), "events.db"))
}

// OpenSQLite opens the SQLite event store at path (created if need be), closed when t ends.
func OpenSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Postgres opens a PostgreSQL event store on the database at dsn, closed when t ends.
func Postgres(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(dsn, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
