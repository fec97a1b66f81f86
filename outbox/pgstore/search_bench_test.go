package pgstore_test

import (
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkSearch: searches on PostgreSQL with 100,000 events, or $ANTOM_BENCH_EVENTS
// (BENCHMARKS.md).
//
//	go test -run '^$' -bench BenchmarkSearch ./outbox/pgstore/
func BenchmarkSearch(b *testing.B) {
	s := open(b, pgtest.Start(b).DSN())
	n := storetest.BenchEvents(b)
	storetest.Seed(b, s, n)
	storetest.BenchSearch(b, s, n)
}
