package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkAddDelivering stores notifications from 64 goroutines at once (b.SetParallelism
// over GOMAXPROCS), each answered after its durable commit, with and without group commit.
func BenchmarkAddDelivering(b *testing.B) {
	for _, group := range []bool{true, false} {
		b.Run(fmt.Sprintf("group=%v", group), func(b *testing.B) {
			s := openSQLite(b, filepath.Join(b.TempDir(), "events.db"))
			if !group {
				sqlstore.NoGroupCommit(s)
			}
			var n atomic.Int64
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					ev := &outbox.Event{Profile: "p", Route: "rt_0123456789abcdef", DedupKey: fmt.Sprint("k", i),
						OrderKey: fmt.Sprint("payment:", i), Body: []byte(`{"notifyType":"PAYMENT_RESULT"}`)}
					if _, err := s.AddDelivering(context.Background(), ev, func() {
						if err := s.MarkDelivered(context.Background(), ev, ev.ReceivedAt); err != nil {
							b.Error(err)
						}
					}); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

// BenchmarkSearchSQLite and BenchmarkSearchPostgres search by order number, payment id and
// state among storetest.BenchEvents events ($ANTOM_BENCH_EVENTS, default 100,000).
func BenchmarkSearchSQLite(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "events.db"))
	n := storetest.BenchEvents(b)
	storetest.Seed(b, s, n)
	storetest.BenchSearch(b, s, n)
}

func BenchmarkSearchPostgres(b *testing.B) {
	s := openPostgres(b, pgtest.Start(b).DSN())
	n := storetest.BenchEvents(b)
	storetest.Seed(b, s, n)
	storetest.BenchSearch(b, s, n)
}
