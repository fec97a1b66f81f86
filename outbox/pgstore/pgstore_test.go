package pgstore_test

import (
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/pgstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

func open(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(dsn, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestContractPostgres(t *testing.T) {
	server := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		dsn := server.DSN()
		return open(t, dsn), func() outbox.EventStore { return open(t, dsn) }
	})
}
