package pgstore_test

import (
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkSearch: searches on PostgreSQL with 100,000 events (BENCHMARKS.md).
//
//	go test -run '^$' -bench BenchmarkSearch ./outbox/pgstore/
func BenchmarkSearch(b *testing.B) {
	s := open(b, pgtest.Start(b).DSN())
	storetest.Seed(b, s, 100_000)
	storetest.BenchSearch(b, s, 100_000)
}
