package sqlstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// A database whose schema predates the outcome counters gets their table when a store opens it,
// and counts the outcomes written from then on.
func TestOutcomeCountersMigrated(t *testing.T) {
	const outcomesTable = "CREATE TABLE antom_outcomes"
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "events.db")
		oldSQLite(t, path, version(t, sqliteMigrations, outcomesTable))
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		countsFromNowOn(t, s)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgtest.Start(t).DSN()
		oldPostgres(t, dsn, version(t, pgMigrations, outcomesTable))
		s, err := OpenPostgres(dsn, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		countsFromNowOn(t, s)
	})
}

func countsFromNowOn(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if got, err := s.HourlyOutcomes(ctx, now.Add(-24*time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("HourlyOutcomes after the migration = %v, %v; want none", got, err)
	}
	ev := &outbox.Event{Profile: "p", Route: "rt_0123456789abcdef", DedupKey: "k", Body: []byte(`{}`)}
	if _, err := s.Add(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, ev, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.HourlyOutcomes(ctx, now.Add(-24*time.Hour))
	if err != nil || len(got[ev.Route]) != 1 || got[ev.Route][0].Delivered != 1 || !got[ev.Route][0].Hour.Equal(now.Truncate(time.Hour)) {
		t.Fatalf("HourlyOutcomes after a delivery = %+v, %v", got, err)
	}
}
