package outbox_test

import (
	"context"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkSearch: searches on the file store with 100,000 events, or $ANTOM_BENCH_EVENTS
// (BENCHMARKS.md): the first one after a start, which builds the index, and then the operator's
// searches.
//
//	go test -run '^$' -bench BenchmarkSearch -benchtime 20x ./outbox/
func BenchmarkSearch(b *testing.B) {
	storage := &certmagic.FileStorage{Path: b.TempDir()}
	s := outbox.New(storage)
	n := storetest.BenchEvents(b)
	storetest.Seed(b, s, n)
	ctx := context.Background()
	b.Run("FirstAfterStart", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := outbox.New(storage).Search(ctx, outbox.Filter{}, outbox.Cursor{}, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, _, err := s.Search(ctx, outbox.Filter{}, outbox.Cursor{}, 1); err != nil {
		b.Fatal(err)
	}
	storetest.BenchSearch(b, s, n)
}
