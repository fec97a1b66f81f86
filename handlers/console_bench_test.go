package handlers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkConsoleHealth: the console's health numbers on a store holding 100,000 events
// received within the last 28 hours, 99,000 of them pending and every 100th dead an hour after
// its receipt (BENCHMARKS.md), on SQLite and on PostgreSQL (Debian's server, started by the
// benchmark). FirstAfterStart is the first load after a start (a store just opened); Load is any
// other load. Both read the backlogs and the hourly outcome counters; Outcomes is the read of the
// counters alone, and Counts the events per state that head the page.
//
//	go test -run '^$' -bench BenchmarkConsoleHealth -benchtime 5x -benchmem ./handlers/
func BenchmarkConsoleHealth(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "events.db")
		benchConsoleHealth(b, func() (*sqlstore.Store, error) { return sqlstore.OpenSQLite(path, nil) })
	})
	b.Run("PostgreSQL", func(b *testing.B) {
		dsn := pgtest.Start(b).DSN()
		benchConsoleHealth(b, func() (*sqlstore.Store, error) { return sqlstore.OpenPostgres(dsn, 4, nil) })
	})
}

// benchConsoleHealth runs BenchmarkConsoleHealth on the stores open opens, on one database.
func benchConsoleHealth(b *testing.B, open func() (*sqlstore.Store, error)) {
	const n = 100_000
	seeded, err := open()
	if err != nil {
		b.Fatal(err)
	}
	storetest.Seed(b, seeded, n)
	seeded.Close()
	now := storetest.SeedBase.Add(n * time.Second)
	// The deaths in the 24 clock hours up to now's.
	first, last := now.Truncate(time.Hour).Add(-23*time.Hour), now.Truncate(time.Hour)
	failed := 0
	for i := 0; i < n; i += 100 {
		if h := storetest.SeedBase.Add(time.Duration(i)*time.Second + time.Hour).Truncate(time.Hour); !h.Before(first) && !h.After(last) {
			failed++
		}
	}
	ctx := context.Background()
	// console is a console on a store just opened, as after a start; close closes the store.
	console := func(b *testing.B) (c *Console, close func()) {
		s, err := open()
		if err != nil {
			b.Fatal(err)
		}
		c = &Console{}
		if err := c.setup(&consoleTestApp{apiTestApp: apiTestApp{store: s}}); err != nil {
			b.Fatal(err)
		}
		return c, s.Close
	}
	load := func(b *testing.B, c *Console) {
		fh, err := c.health(ctx, now)
		if err != nil || len(fh) != 1 || fh[0].Pending != n-n/100 || fh[0].Dead != n/100 || fh[0].Failed24h != failed {
			b.Fatalf("health = %+v, %v; want %d pending, %d dead, %d failed in 24 h", fh, err, n-n/100, n/100, failed)
		}
	}
	b.Run("FirstAfterStart", func(b *testing.B) {
		for b.Loop() {
			c, close := console(b)
			load(b, c)
			close()
		}
	})
	c, close := console(b)
	defer close()
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			load(b, c)
		}
	})
	b.Run("Outcomes", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.app.Store().HourlyOutcomes(ctx, first); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Counts", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.app.Store().Counts(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
