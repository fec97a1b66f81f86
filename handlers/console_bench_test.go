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
// received within the last 28 hours, 99,000 of them pending (BENCHMARKS.md). FirstAfterStart is
// the first load after a start (it builds the store's index and counts the outcomes); Load is a
// load while the outcomes counted less than a minute before serve; Recount is the count of
// outcomes a load makes at most once a minute.
//
//	go test -run '^$' -bench BenchmarkConsoleHealth -benchtime 5x ./handlers/
func BenchmarkConsoleHealth(b *testing.B) {
	const n = 100_000
	storage := &certmagic.FileStorage{Path: b.TempDir()}
	storetest.Seed(b, outbox.New(storage), n)
	now := storetest.SeedBase.Add(n * time.Second)
	ctx := context.Background()
	// console is a console on a store that has not read the events yet, as after a start.
	console := func(b *testing.B) *Console {
		c := &Console{}
		if err := c.setup(&consoleTestApp{apiTestApp: apiTestApp{store: outbox.New(storage)}}); err != nil {
			b.Fatal(err)
		}
		return c
	}
	load := func(b *testing.B, c *Console) {
		fh, _, err := c.health(ctx, now)
		if err != nil || len(fh) != 1 || fh[0].Pending != n-n/100 || fh[0].Dead != n/100 {
			b.Fatalf("health = %+v, %v", fh, err)
		}
	}
	b.Run("FirstAfterStart", func(b *testing.B) {
		for b.Loop() {
			load(b, console(b))
		}
	})
	c := console(b)
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
