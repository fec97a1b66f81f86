package caddyantom

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/handlers"
)

// pausedKey is where the paused forwards live in Caddy's storage: a JSON list of route ids.
// It is Caddy's storage whatever antom_store says, so a pause is one small file next to the
// certificates, and instances sharing that storage share their pauses.
const pausedKey = "antom/forwards/paused.json"

// pauses is the set of paused route ids, persisted in Caddy's storage before it changes in
// memory, so a pause survives restarts and a pause the operator was told about is never lost.
type pauses struct {
	mu  sync.RWMutex
	ids map[string]bool
}

func (p *pauses) has(routeID string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ids[routeID]
}

// load reads the paused forwards from storage; no file means none.
func (a *App) loadPauses(ctx context.Context) error {
	raw, err := a.ctx.Storage().Load(ctx, pausedKey)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = []byte("[]"), nil
	}
	if err != nil {
		return fmt.Errorf("reading the paused forwards (%s in Caddy's storage): %v", pausedKey, err)
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("reading the paused forwards: %s in Caddy's storage is not a JSON list of route ids: %v", pausedKey, err)
	}
	ids := make(map[string]bool, len(list))
	for _, id := range list {
		ids[id] = true
	}
	a.paused.mu.Lock()
	a.paused.ids = ids
	a.paused.mu.Unlock()
	return nil
}

// setPaused pauses or resumes routes: it persists the new set, then applies it, and wakes the
// dispatcher for resumed routes.
func (a *App) setPaused(ctx context.Context, routes []delivery.Route, pause bool) error {
	a.paused.mu.Lock()
	next := make(map[string]bool, len(a.paused.ids)+len(routes))
	for id := range a.paused.ids {
		next[id] = true
	}
	for _, r := range routes {
		if pause {
			next[r.ID] = true
		} else {
			delete(next, r.ID)
		}
	}
	list := make([]string, 0, len(next))
	for id := range next {
		list = append(list, id)
	}
	slices.Sort(list)
	raw, _ := json.Marshal(list)
	if err := a.ctx.Storage().Store(ctx, pausedKey, raw); err != nil {
		a.paused.mu.Unlock()
		return fmt.Errorf("saving the paused forwards in Caddy's storage: %v; nothing changed", err)
	}
	a.paused.ids = next
	a.paused.mu.Unlock()
	if !pause {
		for _, r := range routes {
			a.dispatcher.Resumed(r.ID)
		}
	}
	return nil
}

// Forwards lists the configured forwards with their paused state, for the console.
func (a *App) Forwards() []handlers.Forward {
	routes := a.forwardsMatching("")
	out := make([]handlers.Forward, len(routes))
	for i, r := range routes {
		out[i] = handlers.Forward{Route: r.ID, Profile: r.Profile, URL: redactedURL(r.URL), Paused: a.paused.has(r.ID)}
	}
	return out
}

// PauseForward pauses or resumes the forward with route id routeID, as the console asks.
func (a *App) PauseForward(ctx context.Context, routeID string, pause bool) error {
	r, ok := a.route(routeID)
	if !ok {
		return fmt.Errorf("no antom_webhook forward has route id %q in the running config; reload the console page", routeID)
	}
	if err := a.setPaused(ctx, []delivery.Route{r}, pause); err != nil {
		return err
	}
	verb := "resumed"
	if pause {
		verb = "paused"
	}
	a.log.Info("forward "+verb+" through the console", zap.String("forward", redactedURL(r.URL)), zap.String("route", r.ID))
	return nil
}

// forwardsMatching returns the configured routes forwarding to url, or all of them when url is
// empty, sorted by URL and profile.
func (a *App) forwardsMatching(url string) []delivery.Route {
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

// followPauses rereads the paused forwards, so an instance sharing Caddy's storage with the one
// an operator paused or resumed follows within a queue-watch interval.
func (a *App) followPauses(ctx context.Context) {
	before := a.pausedIDs()
	if err := a.loadPauses(ctx); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("rereading the paused forwards; keeping the last known ones", zap.Error(err))
		}
		return
	}
	for id := range before {
		if !a.paused.has(id) {
			a.dispatcher.Resumed(id)
		}
	}
}

func (a *App) pausedIDs() map[string]bool {
	a.paused.mu.RLock()
	defer a.paused.mu.RUnlock()
	return maps.Clone(a.paused.ids)
}
