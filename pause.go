package caddyantom

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/handlers"
)

// pauses is the set of paused route ids, as the event store last said: every instance of the
// store shares it (outbox.EventStore.SetPaused). Until it has been read, every route counts as
// paused: a pause the operator was told about is never lost to a store that did not answer.
type pauses struct {
	mu    sync.RWMutex
	known bool
	ids   map[string]bool
}

func (p *pauses) has(routeID string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return !p.known || p.ids[routeID]
}

// Paused reports whether a route's deliveries are paused (adminapi.ForwardsApp).
func (a *App) Paused(routeID string) bool { return a.paused.has(routeID) }

// loadPauses reads the paused forwards from the event store.
func (a *App) loadPauses(ctx context.Context) error {
	list, err := a.store.PausedRoutes(ctx)
	if err != nil {
		return err
	}
	ids := make(map[string]bool, len(list))
	for _, id := range list {
		ids[id] = true
	}
	a.paused.mu.Lock()
	a.paused.ids, a.paused.known = ids, true
	a.paused.mu.Unlock()
	return nil
}

// SetPaused pauses or resumes routes: it persists the change in the event store, then applies
// it, and wakes the dispatcher for resumed routes.
func (a *App) SetPaused(ctx context.Context, routes []delivery.Route, pause bool) error {
	ids := make([]string, len(routes))
	for i, r := range routes {
		ids[i] = r.ID
	}
	if err := a.store.SetPaused(ctx, ids, pause); err != nil {
		return fmt.Errorf("saving the paused forwards in the event store: %v; nothing changed", err)
	}
	a.paused.mu.Lock()
	if a.paused.known {
		for _, id := range ids {
			if pause {
				a.paused.ids[id] = true
			} else {
				delete(a.paused.ids, id)
			}
		}
	}
	a.paused.mu.Unlock()
	if !pause {
		a.dispatcher.Kick() // the store's claims hand the resumed forwards' events out again
	}
	return nil
}

// Forwards lists the configured forwards with their paused state, for the console.
func (a *App) Forwards() []handlers.Forward {
	routes := a.ForwardsMatching("")
	out := make([]handlers.Forward, len(routes))
	for i, r := range routes {
		out[i] = handlers.Forward{Route: r.ID, Profile: r.Profile, URL: r.RedactedURL(), Paused: a.paused.has(r.ID)}
	}
	return out
}

// PauseForward pauses or resumes the forward with route id routeID, as the console asks.
func (a *App) PauseForward(ctx context.Context, routeID string, pause bool) error {
	r, ok := a.route(routeID)
	if !ok {
		return fmt.Errorf("no antom_webhook forward has route id %q in the running config; reload the console page", routeID)
	}
	if err := a.SetPaused(ctx, []delivery.Route{r}, pause); err != nil {
		return err
	}
	verb := "resumed"
	if pause {
		verb = "paused"
	}
	a.log.Info("forward "+verb+" through the console", zap.String("forward", r.RedactedURL()), zap.String("route", r.ID))
	return nil
}

// ForwardsMatching returns the configured routes forwarding to url, or all of them when url is
// empty, sorted by URL and profile.
func (a *App) ForwardsMatching(url string) []delivery.Route {
	a.routesMu.RLock()
	defer a.routesMu.RUnlock()
	var out []delivery.Route
	for _, r := range a.routes {
		if url == "" || r.URL == url {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y delivery.Route) int {
		return cmp.Or(cmp.Compare(x.URL, y.URL), cmp.Compare(x.Profile, y.Profile))
	})
	return out
}

// followPauses rereads the paused forwards, so every instance of the event store follows a
// pause or resume made through another within a queue-watch interval.
func (a *App) followPauses(ctx context.Context) {
	var held []string // the routes paused (or not known to be delivering) before
	for _, r := range a.ForwardsMatching("") {
		if a.paused.has(r.ID) {
			held = append(held, r.ID)
		}
	}
	if err := a.loadPauses(ctx); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("rereading the paused forwards; keeping the last known ones", zap.Error(err))
		}
		return
	}
	if slices.ContainsFunc(held, func(id string) bool { return !a.paused.has(id) }) {
		a.dispatcher.Kick() // resumed through another instance
	}
}
