package e2e

import (
	"testing"
	"time"
)

// README, Delivery guarantee: "a config reload or stop lets the deliveries already sent finish
// (each within the forward's 30 s timeout ...) and records them". An app that takes 3 s per
// request, sync_timeout 100ms: Antom has its ack for 10 notifications whose first attempts are
// all in flight when `caddy stop` asks caddy to exit. The process exits cleanly only after
// the app answered every one, and the database it leaves holds each event delivered after one
// attempt; started again, caddy sends none of them again.
func TestStopLetsDeliveriesFinish(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{SyncTimeout: "100ms", Webhook: "\t\tmax_in_flight 10"})
	s.app.SetDelay(3 * time.Second)
	bodies, ids := whBurstBodies(t, "STOP", 10)
	whBurst(t, s, bodies, 10)
	waitFor(t, whWait, "the 10 first attempts in flight", func() bool { return s.app.InFlight() == 10 })

	if out, err := runCaddy(t, nil, "stop", "--address", s.p.Admin); err != nil {
		t.Fatalf("caddy stop: %v\n%s", err, out)
	}
	select {
	case <-s.p.Exited():
	case <-time.After(whWait):
		t.Fatalf("caddy did not exit within %s of `caddy stop`", whWait)
	}
	if err := s.p.ExitErr(); err != nil {
		t.Errorf("caddy exited with %v after `caddy stop`", err)
	}

	ok := map[string]int{}
	for _, r := range s.app.Requests() {
		if whOK(r) {
			ok[r.Header.Get("webhook-id")]++
		}
	}
	db := eventsDB(t, s.p.DataDir)
	for _, id := range ids {
		var state string
		var attempts int
		if err := db.QueryRow(`SELECT state, json_extract(doc, '$.attempts') FROM antom_events WHERE id = ?`, id).Scan(&state, &attempts); err != nil {
			t.Fatalf("event %s in the database caddy left: %v", id, err)
		}
		if ok[id] != 1 || state != "delivered" || attempts != 1 {
			t.Errorf("event %s: the app answered %d attempt(s) with 200 before caddy exited; stored %s after %d attempt(s); want one, recorded delivered", id, ok[id], state, attempts)
		}
	}
	db.Close()

	s.p.Restart()
	whWaitSettled(t, s, bodies, ids)
}
