package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkAddDelivering stores notifications from 64 goroutines at once (b.SetParallelism
// over GOMAXPROCS), each answered after its durable commit, with and without group commit.
func BenchmarkAddDelivering(b *testing.B) {
	for _, group := range []bool{true, false} {
		b.Run(fmt.Sprintf("group=%v", group), func(b *testing.B) {
			s := teststore.SQLite(b)
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

// BenchmarkNotifyLatency stores notifications as antom_webhook does (AddDelivering, then the
// delivery's MarkDelivered) at 1,000 a second, each on its own goroutine, for b.N of them, and
// reports the latency of AddDelivering's commit, what Antom's answer waits for.
// -benchtime=10000x is ten seconds of traffic.
func BenchmarkNotifyLatency(b *testing.B) {
	s := teststore.SQLite(b)
	body := []byte(`{"notifyType":"PAYMENT_RESULT","pad":"` + strings.Repeat("x", 1500) + `"}`)
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := &outbox.Event{Profile: "p", Route: "rt_0123456789abcdef", DedupKey: fmt.Sprint("k", i),
				OrderKey: fmt.Sprint("payment:", i), RequestID: fmt.Sprint("r", i), Body: body}
			t0 := time.Now()
			_, err := s.AddDelivering(context.Background(), ev, func() {
				lat[i] = time.Since(t0)
				if err := s.MarkDelivered(context.Background(), ev, ev.ReceivedAt); err != nil {
					b.Error(err)
				}
			})
			if err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkSearchSQLite and BenchmarkSearchPostgres search by order number, payment id and
// state among storetest.BenchEvents events ($ANTOM_BENCH_EVENTS, default 100,000).
func BenchmarkSearchSQLite(b *testing.B) {
	s := teststore.SQLite(b)
	n := storetest.BenchEvents(b)
	storetest.Seed(b, s, n)
	storetest.BenchSearch(b, s, n)
}

func BenchmarkSearchPostgres(b *testing.B) {
	s := teststore.Postgres(b, pgtest.Start(b).DSN())
	n := storetest.BenchEvents(b)
	storetest.Seed(b, s, n)
	storetest.BenchSearch(b, s, n)
}

// BenchmarkClaimBacklog claims and delivers two events at a time (a forward's room, as Run
// asks while draining) from a backlog of 10,000 due events of one route, one payment each, as
// after an app's outage: a claim should cost what it takes, not what waits.
func BenchmarkClaimBacklog(b *testing.B) {
	s := teststore.SQLite(b)
	ctx := context.Background()
	const route = "rt_0123456789abcdef"
	add := func(i int64) {
		ev := &outbox.Event{Profile: "p", Route: route, DedupKey: fmt.Sprint("k", i),
			OrderKey: fmt.Sprint("payment:", i), Body: []byte(`{"notifyType":"PAYMENT_RESULT"}`),
			NextAttempt: time.Now().Add(-time.Minute)} // due at once
		if _, err := s.Add(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	var next int64
	for ; next < 10_000; next++ {
		add(next)
	}
	req := outbox.ClaimRequest{Limit: 2, Free: map[string]int{route: 2}}
	b.ResetTimer()
	for b.Loop() {
		evs, err := s.Claim(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range evs {
			if err := s.MarkDelivered(ctx, ev, ev.ReceivedAt); err != nil {
				b.Fatal(err)
			}
			add(next) // the backlog stays at 10,000
			next++
		}
		if len(evs) != 2 {
			b.Fatalf("claimed %d events of a due backlog; want 2", len(evs))
		}
	}
}
