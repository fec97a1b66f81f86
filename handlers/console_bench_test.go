package handlers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkConsoleHealth: the console's health numbers on the SQLite store holding 100,000
// events received within the last 28 hours, 99,000 of them pending (BENCHMARKS.md).
// FirstAfterStart is the first load after a start (a store just opened, which counts the
// outcomes); Load is a load while the outcomes counted less than a minute before serve; Recount
// is the count of outcomes a load makes at most once a minute.
//
//	go test -run '^$' -bench BenchmarkConsoleHealth -benchtime 5x ./handlers/
func BenchmarkConsoleHealth(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "events.db")
	storetest.Seed(b, teststore.OpenSQLite(b, path), n)
	now := storetest.SeedBase.Add(n * time.Second)
	ctx := context.Background()
	// console is a console on a store just opened, as after a start; close closes the store.
	console := func(b *testing.B) (c *Console, close func()) {
		s, err := sqlstore.OpenSQLite(path, nil)
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
		fh, _, err := c.health(ctx, now)
		if err != nil || len(fh) != 1 || fh[0].Pending != n-n/100 || fh[0].Dead != n/100 {
			b.Fatalf("health = %+v, %v", fh, err)
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
	load(b, c)
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			load(b, c)
		}
	})
	b.Run("Recount", func(b *testing.B) {
		for b.Loop() {
			if _, err := countOutcomes(ctx, c.app.Store(), now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
