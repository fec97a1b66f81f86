package storetest

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// BenchEvents is how many events the search benchmarks seed: $ANTOM_BENCH_EVENTS, or 100,000.
func BenchEvents(b testing.TB) int {
	v := os.Getenv("ANTOM_BENCH_EVENTS")
	if v == "" {
		return 100_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1000 {
		b.Fatalf("ANTOM_BENCH_EVENTS=%q: want a number of events, at least 1000", v)
	}
	return n
}

// SeedBase is the receipt time of the first event Seed stores; the i-th is i seconds later.
var SeedBase = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

// Seed stores n events in s from 16 writers: order-<i> as paymentRequestId, a REFUND_RESULT
// every 10th, and every 100th dead.
func Seed(b testing.TB, s outbox.EventStore, n int) {
	b.Helper()
	Parallel(n, func(i int) {
		ev := event(fmt.Sprint("seed-", i))
		ev.RequestID = fmt.Sprint("order-", i)
		ev.ReceivedAt = SeedBase.Add(time.Duration(i) * time.Second)
		if i%10 == 0 {
			ev.Type = "REFUND_RESULT"
		}
		if added, err := s.Add(ctx, ev); err != nil || !added {
			b.Errorf("seeding %d: %v, %v", i, added, err)
			return
		}
		if i%100 == 0 {
			if err := s.MarkDead(ctx, ev, ev.ReceivedAt.Add(time.Hour), "gave up"); err != nil {
				b.Errorf("seeding %d: %v", i, err)
			}
		}
	})
}

// Parallel calls fn with 0 to n-1 from 16 goroutines at once (writes a store can commit in
// groups) and returns when every call has.
func Parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchSearch measures the searches an operator makes, on a store Seed filled with n events.
func BenchSearch(b *testing.B, s outbox.EventStore, n int) {
	mid := SeedBase.Add(time.Duration(n/2) * time.Second)
	for _, bc := range []struct {
		name string
		f    outbox.Filter
		want int
	}{
		{"OrderNumber", outbox.Filter{RequestID: fmt.Sprint("order-", n/2)}, 1},
		{"PaymentID", outbox.Filter{PaymentID: fmt.Sprint("pay-seed-", n/2)}, 1},
		{"NewestPage", outbox.Filter{}, 50},
		{"DeadPage", outbox.Filter{State: outbox.StateDead}, 50},
		{"TypeInHour", outbox.Filter{Type: "REFUND_RESULT", Since: mid, Until: mid.Add(time.Hour)}, 50},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				evs, _, err := s.Search(ctx, bc.f, outbox.Cursor{}, 50)
				if err != nil || len(evs) != bc.want {
					b.Fatalf("Search(%+v) = %d events, %v; want %d", bc.f, len(evs), err, bc.want)
				}
			}
		})
	}
}
