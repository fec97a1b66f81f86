package outbox

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
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
