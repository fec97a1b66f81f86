package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// A database whose schema predates the outcome counters gets their table when a store opens it,
// and counts the outcomes written from then on.
func TestOutcomeCountersMigrated(t *testing.T) {
	ctx := context.Background()
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "events.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		old := len(sqliteMigrations) - 1
		for _, q := range append(sqliteMigrations[:old:old], fmt.Sprintf("PRAGMA user_version = %d", old)) {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		_ = db.Close()
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		countsFromNowOn(t, s)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgtest.Start(t).DSN()
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		old := len(pgMigrations) - 1
		for _, q := range append(pgMigrations[:old:old], fmt.Sprintf(`CREATE TABLE antom_schema (version int NOT NULL); INSERT INTO antom_schema VALUES (%d)`, old)) {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
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
