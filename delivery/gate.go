package delivery

import (
	"context"

	"golang.org/x/time/rate"
)

// gate bounds the deliveries to one forward, on every delivery path: at most cap(slots) at
// once, and at most limit's rate (nil: no rate limit). A legacy app behind Caddy has a few
// workers; a backlog drained at full speed after an outage would flatten it again.
type gate struct {
	slots chan struct{}
	limit *rate.Limiter
}

func newGate(r Route) *gate {
	g := &gate{slots: make(chan struct{}, r.maxInFlight())}
	if r.Rate > 0 {
		// A burst of one spaces the deliveries evenly: `rate 50/s` is one every 20 ms.
		g.limit = rate.NewLimiter(rate.Limit(r.Rate), 1)
	}
	return g
}

// tryEnter takes a slot and a token if both are free now (the synchronous first attempt,
// which must not keep Antom waiting for the app's backlog).
func (g *gate) tryEnter() bool {
	select {
	case g.slots <- struct{}{}:
	default:
		return false
	}
	if g.limit != nil && !g.limit.Allow() {
		<-g.slots
		return false
	}
	return true
}

// enter waits for a slot and then a token, until ctx ends.
func (g *gate) enter(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if g.limit != nil {
		if err := g.limit.Wait(ctx); err != nil {
			<-g.slots
			return err
		}
	}
	return nil
}

func (g *gate) leave() { <-g.slots }

// full reports whether tryEnter would fail now: no slot or no token free.
func (g *gate) full() bool {
	return len(g.slots) == cap(g.slots) || (g.limit != nil && g.limit.Tokens() < 1)
}
