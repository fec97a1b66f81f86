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
// received within the last 28 hours, 99,000 of them pending (BENCHMARKS.md).
//
//	go test -run '^$' -bench BenchmarkConsoleHealth -benchtime 5x ./handlers/
func BenchmarkConsoleHealth(b *testing.B) {
	const n = 100_000
	store := outbox.New(&certmagic.FileStorage{Path: b.TempDir()})
	storetest.Seed(b, store, n)
	now := storetest.SeedBase.Add(n * time.Second)
	ctx := context.Background()
	for b.Loop() {
		fh, err := health(ctx, store, now)
		if err != nil || len(fh) != 1 || fh[0].Pending != n-n/100 {
			b.Fatalf("health = %+v, %v", fh, err)
		}
	}
}
