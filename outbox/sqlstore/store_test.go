package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

func openSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func openPostgres(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(dsn, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func corrupt(t *testing.T, s outbox.EventStore, id string) {
	if err := sqlstore.Corrupt(s.(*sqlstore.Store), id); err != nil {
		t.Fatal(err)
	}
}

func TestContractSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		path := filepath.Join(t.TempDir(), "events.db")
		return openSQLite(t, path), func() outbox.EventStore { return openSQLite(t, path) }
	}, corrupt)
}

func TestContractPostgres(t *testing.T) {
	server := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		dsn := server.DSN()
		return openPostgres(t, dsn), func() outbox.EventStore { return openPostgres(t, dsn) }
	}, corrupt)
}
