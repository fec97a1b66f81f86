package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkConsoleHealth: the console's health numbers on the file store holding 100,000 events
// received within the last 28 hours, 99,000 of them pending (BENCHMARKS.md). Load is what a page
// load costs while the outcomes counted less than a minute before serve; Recount is the count of
// outcomes a load makes at most once a minute.
//
//	go test -run '^$' -bench BenchmarkConsoleHealth -benchtime 5x ./handlers/
func BenchmarkConsoleHealth(b *testing.B) {
	const n = 100_000
	app := &consoleTestApp{apiTestApp: apiTestApp{store: outbox.New(&certmagic.FileStorage{Path: b.TempDir()})}}
	storetest.Seed(b, app.store, n)
	c := &Console{}
	if err := c.setup(app); err != nil {
		b.Fatal(err)
	}
	now := storetest.SeedBase.Add(n * time.Second)
	ctx := context.Background()
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			fh, _, err := c.health(ctx, now)
			if err != nil || len(fh) != 1 || fh[0].Pending != n-n/100 || fh[0].Dead != n/100 {
				b.Fatalf("health = %+v, %v", fh, err)
			}
		}
	})
	b.Run("Recount", func(b *testing.B) {
		for b.Loop() {
			if _, err := countOutcomes(ctx, app.store, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
