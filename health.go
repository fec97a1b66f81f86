package caddyantom

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

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

// routeHealth is what the app knows about deliveries to one forward since the config loaded.
type routeHealth struct {
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Failing             bool      `json:"failing"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
}

// forwardHealth tracks consecutive failures per route and announces a forward that starts or
// stops failing, once each way.
type forwardHealth struct {
	mu     sync.Mutex
	routes map[string]*routeHealth
}

func (h *forwardHealth) get(routeID string) routeHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.routes[routeID]; r != nil {
		return *r
	}
	return routeHealth{}
}

// record notes one attempt's outcome and returns the Caddy event to emit, if any.
func (h *forwardHealth) record(routeID string, a delivery.Attempt, at time.Time) (event string, state routeHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.routes == nil {
		h.routes = map[string]*routeHealth{}
	}
	r := h.routes[routeID]
	if r == nil {
		r = &routeHealth{}
		h.routes[routeID] = r
	}
	if a.OK {
		if r.Failing {
			event = "antom.forward_recovered"
		}
		state = *r
		*r = routeHealth{}
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
	data := map[string]any{"profile": route.Profile, "forward": redactedURL(route.URL), "route": route.ID}
	if event == "antom.forward_failing" {
		data["consecutive_failures"], data["last_error"] = state.ConsecutiveFailures, state.LastError
		a.log.Warn("forward failing: deliveries keep failing; its events wait, pending", zap.Any("forward", data))
	} else {
		data["failing_for_seconds"] = int(now.Sub(state.FailingSince).Seconds())
		a.log.Info("forward recovered", zap.Any("forward", data))
	}
	a.Emit(event, data)
}

// oldestPending returns the age of the oldest pending event per route id (none: 0).
func (a *App) oldestPending(ctx context.Context, now time.Time) (map[string]time.Duration, error) {
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
	ages, err := a.oldestPending(ctx, time.Now())
	if err != nil {
		return // the queue gauges' own errors are logged by the store
	}
	for _, r := range a.forwardsMatching("") {
		oldestPendingAge.WithLabelValues(r.ID).Set(ages[r.ID].Seconds())
	}
}
