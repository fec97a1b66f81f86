package delivery

import (
	"context"
	"testing"
)

// A delivery waiting for its turn under the forward's rate does not hold one of its
// max_in_flight slots meanwhile: those are for deliveries in progress.
func TestGateWaitsForTokenWithoutSlot(t *testing.T) {
	g := newGate(Route{MaxInFlight: 1, Rate: 1.0 / 60})
	if err := g.enter(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.leave()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.enter(ctx) }()
	eventually(t, "the second delivery waiting for a token", func() bool { return g.limit.Tokens() < 0 })
	if n := len(g.slots); n != 0 {
		t.Errorf("%d of 1 slots held by a delivery still waiting for its token", n)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("enter returned without error after its context ended")
	}
	if n := len(g.slots); n != 0 {
		t.Errorf("%d slots held after a cancelled enter", n)
	}
}
