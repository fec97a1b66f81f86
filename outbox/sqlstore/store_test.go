package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

func corrupt(t *testing.T, s outbox.EventStore, id string) {
	if err := sqlstore.Corrupt(s.(*sqlstore.Store), id); err != nil {
		t.Fatal(err)
	}
}

func TestContractSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		path := filepath.Join(t.TempDir(), "events.db")
		return teststore.OpenSQLite(t, path), func() outbox.EventStore { return teststore.OpenSQLite(t, path) }
	}, corrupt)
}

func TestContractPostgres(t *testing.T) {
	server := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		dsn := server.DSN()
		return teststore.Postgres(t, dsn), func() outbox.EventStore { return teststore.Postgres(t, dsn) }
	}, corrupt)
}

// onBothEngines runs test on a new SQLite store and on a new PostgreSQL one.
func onBothEngines(t *testing.T, test func(t *testing.T, s *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, teststore.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, teststore.Postgres(t, pgtest.Start(t).DSN())) })
}
