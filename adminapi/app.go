// Package adminapi serves the antom endpoints of Caddy's admin API: the modules admin.api.antom
// (events, payments, searches, redrives, timelines) and admin.api.antom_forwards (the forwards,
// their health, pause and resume). It reaches the running `antom` app through the interfaces it
// declares here, which the app implements; it never imports the app's package.
package adminapi

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// App is what the admin endpoints need from the `antom` app (implemented by caddyantom.App).
type App interface {
	// Store is the durable event store.
	Store() outbox.EventStore
	// ProfileNames returns the merchant profiles' names, sorted.
	ProfileNames() []string
	// Kick wakes the delivery workers, e.g. after a replay.
	Kick()
}

// ForwardsApp is what the forwards endpoints need from the `antom` app besides App
// (implemented by caddyantom.App).
type ForwardsApp interface {
	App
	// ForwardsMatching returns the configured routes forwarding to url, or all of them when url
	// is empty, sorted by URL and profile.
	ForwardsMatching(url string) []delivery.Route
	// SetPaused pauses or resumes routes: durably, for every instance of the store.
	SetPaused(ctx context.Context, routes []delivery.Route, pause bool) error
	// Paused reports whether a route's deliveries are paused.
	Paused(routeID string) bool
	// ForwardHealth is what the app knows about deliveries to a route since the config loaded.
	ForwardHealth(routeID string) ForwardHealth
	// OldestPending returns the age of the oldest pending event per route id (none: absent).
	OldestPending(ctx context.Context, now time.Time) (map[string]time.Duration, error)
	// Logger is the app's logger.
	Logger() *zap.Logger
}

// ForwardHealth is what the app knows about deliveries to one forward since the config loaded.
type ForwardHealth struct {
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Failing             bool      `json:"failing"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
}

// running returns the started antom app of the active config, or nil. The admin endpoints
// outlive configs, so they find the app through it rather than holding on to one.
var running = func() App { return nil }

// SetRunning tells the admin endpoints how to find the started antom app of the active config;
// find returns nil while none is running. The app's package calls it once, in init.
func SetRunning(find func() App) { running = find }
