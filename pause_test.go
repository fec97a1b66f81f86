package caddyantom

import "testing"

// Until the paused forwards have been read from the event store, every forward counts as
// paused: a store that did not answer at start-up must not undo an operator's pause.
func TestPausesHoldUntilRead(t *testing.T) {
	var p pauses
	if !p.has("rt_any") {
		t.Fatal("a route counts as delivering before the paused forwards were read")
	}
	p.known, p.ids = true, map[string]bool{"rt_paused": true}
	if !p.has("rt_paused") || p.has("rt_other") {
		t.Fatalf("after reading: has(rt_paused) = %v, has(rt_other) = %v; want true, false", p.has("rt_paused"), p.has("rt_other"))
	}
}
