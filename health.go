package caddyantom

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/adminapi"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// failingAfter is how many delivery attempts to a forward must fail in a row before it counts
// as failing: one failure is an app restarting, five in a row (a minute of backoff for one
// event, or five events at once) is an outage worth a page.
const failingAfter = 5

var oldestPendingAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: "caddy", Subsystem: "antom", Name: "oldest_pending_age_seconds",
	Help: "Age of the oldest event not yet delivered, per forward (route id as in GET /antom/forwards); 0 when none is pending.",
}, []string{"route"})

// forwardHealth tracks consecutive failures per route and announces a forward that starts or
// stops failing, once each way.
type forwardHealth struct {
	mu     sync.Mutex
	routes map[string]*adminapi.ForwardHealth
}

func (h *forwardHealth) get(routeID string) adminapi.ForwardHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.routes[routeID]; r != nil {
		return *r
	}
	return adminapi.ForwardHealth{}
}

// ForwardHealth is what the app knows about deliveries to a route since the config loaded
// (adminapi.ForwardsApp).
func (a *App) ForwardHealth(routeID string) adminapi.ForwardHealth { return a.health.get(routeID) }

// record notes one attempt's outcome and returns the Caddy event to emit, if any.
func (h *forwardHealth) record(routeID string, a delivery.Attempt, at time.Time) (event string, state adminapi.ForwardHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.routes == nil {
		h.routes = map[string]*adminapi.ForwardHealth{}
	}
	r := h.routes[routeID]
	if r == nil {
		r = &adminapi.ForwardHealth{}
		h.routes[routeID] = r
	}
	if a.OK {
		if r.Failing {
			event = "antom.forward_recovered"
		}
		state = *r
		*r = adminapi.ForwardHealth{}
		return event, state
	}
	r.ConsecutiveFailures++
	r.LastError = a.Err
	if !r.Failing && r.ConsecutiveFailures >= failingAfter {
		r.Failing, r.FailingSince = true, at
		event = "antom.forward_failing"
	}
	return event, *r
}

// observeAttempt feeds the health of the event's forward and emits forward_failing or
// forward_recovered when it changes. Events without a configured route are not a forward's.
func (a *App) observeAttempt(ev *outbox.Event, at delivery.Attempt) {
	route, ok := a.route(ev.Route)
	if !ok {
		return
	}
	now := time.Now()
	event, state := a.health.record(route.ID, at, now)
	if event == "" {
		return
	}
	data := map[string]any{"profile": route.Profile, "forward": route.RedactedURL(), "route": route.ID}
	if event == "antom.forward_failing" {
		data["consecutive_failures"], data["last_error"] = state.ConsecutiveFailures, state.LastError
		a.log.Warn("forward failing: deliveries keep failing; its events wait, pending", zap.Any("forward", data))
	} else {
		data["failing_for_seconds"] = int(now.Sub(state.FailingSince).Seconds())
		a.log.Info("forward recovered", zap.Any("forward", data))
	}
	a.Emit(event, data)
}

// OldestPending returns the age of the oldest pending event per route id (none: 0).
func (a *App) OldestPending(ctx context.Context, now time.Time) (map[string]time.Duration, error) {
	backlogs, err := a.store.Backlogs(ctx)
	if err != nil {
		return nil, err
	}
	ages := map[string]time.Duration{}
	for route, b := range backlogs {
		if b.Pending > 0 {
			ages[route] = now.Sub(b.OldestPending)
		}
	}
	return ages, nil
}

// measureOldestPending sets the oldest-pending gauge of every configured forward.
func (a *App) measureOldestPending(ctx context.Context) {
	ages, err := a.OldestPending(ctx, time.Now())
	if err != nil {
		return // the queue gauges' own errors are logged by the store
	}
	for _, r := range a.ForwardsMatching("") {
		oldestPendingAge.WithLabelValues(r.ID).Set(ages[r.ID].Seconds())
	}
}
