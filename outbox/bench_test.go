package outbox

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAdd measures durable Adds of distinct events from parallel
// goroutines (the webhook hot path). Run with -cpu to vary parallelism.
func BenchmarkAdd(b *testing.B) {
	s, _ := newTestStore(b)
	ctx := context.Background()
	body := []byte(`{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentRequestId":"2024010112345678","paymentId":"20240101123456789012345678901234","paymentAmount":{"currency":"SGD","value":"1050"},"paymentCreateTime":"2024-01-01T12:00:00+08:00","paymentTime":"2024-01-01T12:00:05+08:00"}`)
	var n atomic.Int64
	b.SetParallelism(16) // request handlers block on fsync: many concurrent writers, as under load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ev := testEvent("bench", strconv.FormatInt(n.Add(1), 10), "")
			ev.Body = body
			if added, err := s.Add(ctx, ev); err != nil || !added {
				b.Fatal(added, err)
			}
		}
	})
}

// BenchmarkDueIndex picks the next few due events from a large backlog, as the dispatcher
// does each time half its slots are free while it drains (bench/ drain: 10,000 pending events,
// 8 free slots, some ids in flight).
func BenchmarkDueIndex(b *testing.B) {
	x := dueIndex{m: map[string]dueEntry{}}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	inflight := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := EventID("bench", strconv.Itoa(i))
		x.m[id] = dueEntry{next: t0.Add(time.Duration(i%997) * time.Millisecond)}
		if i%700 == 0 {
			inflight[id] = true
		}
	}
	skip := func(id string) bool { return inflight[id] }
	at := t0.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if ids := x.due(at, 8, skip, nil); len(ids) != 8 {
			b.Fatal(len(ids))
		}
	}
}
