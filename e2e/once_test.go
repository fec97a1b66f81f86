package e2e

// Events that reach the app once although the app is slow or caddy reloads (issue 25): an
// attempt the app received goes on to its end and its outcome is recorded, so nothing sends the
// event again while the app is still working on it.

import (
	"net/http"
	"testing"
	"time"
)

// whWaitSettled waits until every event of ids is delivered and the app answers nothing more,
// then checks that each reached it exactly once, in one recorded attempt.
func whWaitSettled(t *testing.T, s *whStack, bodies [][]byte, ids []string) {
	t.Helper()
	whWaitDeliveredOnce(t, s, bodies, ids)
	if n := s.app.Len(); n != len(ids) {
		t.Errorf("the app got %d requests for %d events, want one each", n, len(ids))
	}
}

// whWaitDeliveredOnce waits until every event of ids is delivered and the app answers nothing
// more, then checks that each was delivered successfully exactly once.
func whWaitDeliveredOnce(t *testing.T, s *whStack, bodies [][]byte, ids []string) {
	t.Helper()
	for _, id := range ids {
		whWaitState(t, s.p, id, "delivered")
	}
	waitFor(t, whWait, "the app to finish the requests it is answering", func() bool { return s.app.InFlight() == 0 })
	want := map[string][]byte{}
	for i, id := range ids {
		want[id] = bodies[i]
	}
	whCheckDeliveries(t, s.app, want, true)
}

// An app that takes 2 s per request, and sync_timeout 100ms: Antom gets its ack once the
// event is stored, the first attempt goes on meanwhile, and its outcome is what is recorded;
// no second attempt starts while it runs. Each webhook-id reaches the app once.
func TestWebhookSlowAppGetsEachEventOnce(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{SyncTimeout: "100ms", Webhook: "\t\tmax_in_flight 10"})
	s.app.SetDelay(2 * time.Second)
	bodies, ids := whBurstBodies(t, "SLOW", 10)
	whBurst(t, s, bodies, 10)
	whWaitSettled(t, s, bodies, ids)
	for _, id := range ids {
		if ev, _, _ := whGetEvent(t, s.p, id); ev.Attempts != 1 || ev.LastStatus != http.StatusOK {
			t.Errorf("event %s: %d attempt(s), last status %d; want the first attempt's 200 recorded", id, ev.Attempts, ev.LastStatus)
		}
	}
}

// 20 events whose first attempt failed are retried, each retry taking the app 2 s; while
// they are in flight, `caddy reload --force`: the old config lets the retries finish and
// records them before it lets go, and the new one does not send them again. Each webhook-id
// reaches the app exactly once.
func TestWebhookReloadLetsDeliveriesFinish(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{Webhook: "\t\tmax_in_flight 20"})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	bodies, ids := whBurstBodies(t, "RLD", 20)
	whBurst(t, s, bodies, 10)
	s.app.SetDelay(2 * time.Second)
	s.app.SetDefaultStatus(http.StatusOK)
	waitFor(t, whWait, "retries in flight", func() bool { return s.app.InFlight() >= 8 })

	inFlight := s.app.InFlightIDs()
	out, err := runCaddy(t, whEnv(t), "reload", "--config", s.p.ConfigPath, "--adapter", "caddyfile", "--address", s.p.Admin, "--force")
	if err != nil {
		t.Fatalf("caddy reload --force: %v\n%s", err, out)
	}

	// The reload returns once the old config stopped: every delivery in flight when it began
	// has been answered by the app and is recorded delivered now, without waiting.
	answered := map[string]bool{}
	for _, r := range s.app.Requests() {
		answered[r.Header.Get("webhook-id")] = answered[r.Header.Get("webhook-id")] || whOK(r)
	}
	for _, id := range inFlight {
		ev, raw, ok := whGetEvent(t, s.p, id)
		if !answered[id] || !ok || ev.State != "delivered" {
			t.Errorf("event %s, in flight when the reload began: answered 200 %v when it returned, recorded %s", id, answered[id], raw)
		}
	}
	whWaitDeliveredOnce(t, s, bodies, ids)
}
