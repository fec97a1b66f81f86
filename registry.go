package caddyantom

import (
	"fmt"
	"sort"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/reconcile"
)

// What the handlers register with the app in their Provision, and the app looks up: delivery
// routes (antom_webhook) and reconciliation settings (antom_api with reconcile).

// RegisterRoute makes a forward target known to the delivery workers.
func (a *App) RegisterRoute(r delivery.Route) {
	a.routesMu.Lock()
	defer a.routesMu.Unlock()
	if _, dup := a.routes[r.ID]; dup {
		a.log.Warn("two antom_webhook handlers forward the same profile to the same URL; the last one's format, keys and max_age win",
			zap.String("profile", r.Profile), zap.String("forward", r.URL))
	}
	a.routes[r.ID] = r
}

func (a *App) route(id string) (delivery.Route, bool) {
	a.routesMu.RLock()
	defer a.routesMu.RUnlock()
	r, ok := a.routes[id]
	return r, ok
}

// routeIDs returns the ids of the routes registered.
func (a *App) routeIDs() []string {
	a.routesMu.RLock()
	defer a.routesMu.RUnlock()
	ids := make([]string, 0, len(a.routes))
	for id := range a.routes {
		ids = append(ids, id)
	}
	return ids
}

// RouteFor returns the single route that forwards a profile's events, for events that do not come
// from a webhook (payment results found by inquiry).
func (a *App) RouteFor(profile string) (delivery.Route, error) {
	a.routesMu.RLock()
	defer a.routesMu.RUnlock()
	var found []delivery.Route
	for _, r := range a.routes {
		if r.Profile == profile {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return delivery.Route{}, fmt.Errorf("no antom_webhook forwards events of profile %q", profile)
	default:
		return delivery.Route{}, fmt.Errorf("several antom_webhook handlers forward events of profile %q; results found by inquiry need exactly one", profile)
	}
}

// RegisterReconcile enables the reconciliation of a profile's payments (handlers.ReconcileRegistrar).
func (a *App) RegisterReconcile(profile string, cfg reconcile.Config) {
	a.reconcileMu.Lock()
	defer a.reconcileMu.Unlock()
	if old, dup := a.reconciles[profile]; dup && old != cfg {
		a.log.Warn("two antom_api handlers reconcile the same profile with different settings; the last one's win",
			zap.String("profile", profile))
	}
	a.reconciles[profile] = cfg
}

// reconcileProfile is the reconcile worker's view of a profile: its gateway client and the
// settings of its antom_api.
func (a *App) reconcileProfile(name string) (reconcile.Profile, bool) {
	a.reconcileMu.RLock()
	cfg, ok := a.reconciles[name]
	a.reconcileMu.RUnlock()
	p := a.Profiles[name]
	if !ok || p == nil || p.client == nil {
		return reconcile.Profile{}, false
	}
	return reconcile.Profile{Client: p.client, Config: cfg}, true
}

// reconcileProfiles lists the profiles whose payments are reconciled, sorted.
func (a *App) reconcileProfiles() []string {
	a.reconcileMu.RLock()
	defer a.reconcileMu.RUnlock()
	names := make([]string, 0, len(a.reconciles))
	for name := range a.reconciles {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
