package pgstore_test

import (
	"context"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkBacklogs: the backlog per forward on PostgreSQL with 100,000 events, 99,000 of them
// pending (BENCHMARKS.md: the console's health page and the oldest-pending gauge).
//
//	go test -run '^$' -bench BenchmarkBacklogs -benchtime 20x ./outbox/pgstore/
func BenchmarkBacklogs(b *testing.B) {
	const n = 100_000
	s := open(b, pgtest.Start(b).DSN())
	storetest.Seed(b, s, n)
	for b.Loop() {
		backlogs, err := s.Backlogs(context.Background())
		if err != nil || len(backlogs) != 1 {
			b.Fatalf("Backlogs = %+v, %v", backlogs, err)
		}
		for _, bl := range backlogs {
			if bl.Pending != n-n/100 || bl.Dead != n/100 {
				b.Fatalf("Backlogs = %+v", backlogs)
			}
		}
	}
}
