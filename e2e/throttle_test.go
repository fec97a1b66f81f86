package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// whBurst posts the notifications from workers goroutines at once, signed beforehand so the
// burst is as fast as the machine allows, and requires Antom's ack for each.
func whBurst(t *testing.T, s *whStack, bodies [][]byte, workers int) {
	t.Helper()
	headers := make([]http.Header, len(bodies))
	for i, b := range bodies {
		headers[i] = signNotification(t, whNotifyPath, whClientID, antom.RequestTime(time.Now()), b)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				status, h, resp := httpDo(t, http.MethodPost, s.Notify, headers[i], bodies[i])
				whRequireAck(t, fmt.Sprintf("notification %d of the burst", i), status, h, resp)
			}
		}()
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
}

// whBurstBodies returns n distinct payment results and their webhook-ids.
func whBurstBodies(t *testing.T, prefix string, n int) ([][]byte, []string) {
	bodies, ids := make([][]byte, n), make([]string, n)
	for i := range bodies {
		bodies[i] = whBody(fmt.Sprintf("%s%06d", prefix, i))
		ids[i] = whEventID(t, bodies[i])
	}
	return bodies, ids
}

// An app that answers slowly and counts its concurrent requests never sees more than
// max_in_flight, although 40 notifications arrive from 10 connections at once: each is still
// acknowledged (the synchronous first attempt is skipped when the forward is full), and each is
// delivered.
func TestWebhookMaxInFlight(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{Webhook: "\t\tmax_in_flight 3"})
	s.app.SetDelay(100 * time.Millisecond)
	bodies, ids := whBurstBodies(t, "MIF", 40)
	whBurst(t, s, bodies, 10)
	whWaitDelivered(t, s.app, ids)
	if got := s.app.MaxConcurrent(); got > 3 {
		t.Fatalf("the app answered %d deliveries at once, max_in_flight is 3", got)
	}
	for _, id := range ids {
		whWaitState(t, s.p, id, "delivered")
	}
}

// With rate 50/s the backlog a burst of 300 notifications leaves drains at 50 per second,
// within 10%, measured from the end of the burst (while notifications still arrive, the drain
// can be no faster than they do). 300 events at 50/s is about a 6-second drain: long enough for
// the measurement, short enough for a test (the 10,000-event drain belongs in a
// benchmark).
func TestWebhookRate(t *testing.T) {
	t.Parallel()
	const n, perSecond = 300, 50.0
	s := whStart(t, whConf{Webhook: "\t\tmax_in_flight 8\n\t\trate 50/s"})
	bodies, ids := whBurstBodies(t, "RATE", n)
	whBurst(t, s, bodies, 16)
	burstEnd := time.Now()
	whWaitDelivered(t, s.app, ids)

	first := map[string]time.Time{} // each event's first delivery
	for _, r := range s.app.Requests() {
		id := r.Header.Get("webhook-id")
		if _, seen := first[id]; !seen {
			first[id] = r.At
		}
	}
	var end time.Time
	drained := 0
	for _, at := range first {
		if at.After(burstEnd) {
			drained++
			if at.After(end) {
				end = at
			}
		}
	}
	if drained < n/3 {
		t.Fatalf("only %d of %d events were left to drain after the burst; rate 50/s is not holding them back", drained, n)
	}
	measured := float64(drained) / end.Sub(burstEnd).Seconds()
	t.Logf("%d events left after the burst drained at %.1f/s (rate 50/s)", drained, measured)
	if measured > perSecond*1.1 || measured < perSecond*0.9 {
		t.Fatalf("measured delivery rate %.1f/s, want 50/s within 10%%", measured)
	}
}
