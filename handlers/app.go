// Package handlers holds the Caddy HTTP handlers of caddy-antom. They are thin: the shared state
// (merchant profiles, the durable event store, the delivery workers) belongs to the `antom` app,
// which the handlers reach through the App interface.
package handlers

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// App is what the handlers need from the `antom` app (implemented by caddyantom.App).
type App interface {
	// Client returns the signed, verifying gateway client of a merchant profile.
	Client(profile string) (*antom.Client, error)
	// Store is the durable event store.
	Store() outbox.EventStore
	// RegisterRoute makes a forward target known to the delivery workers.
	RegisterRoute(delivery.Route)
	// DeliverNow makes the first, synchronous delivery attempt of a freshly stored event.
	DeliverNow(ctx context.Context, ev *outbox.Event) delivery.Attempt
	// ForwardFull reports whether the forward routeID is at its max_in_flight or rate now: a new
	// event's first attempt could not start.
	ForwardFull(routeID string) bool
	// Kick wakes the background deliveries.
	Kick()
	// Emit sends a Caddy event; data must hold no secrets or card data.
	Emit(name string, data map[string]any)
	// RecordActivity queues an activity for the payments' timelines without waiting; it must
	// hold metadata only (no body, card data or secret).
	RecordActivity(*outbox.Activity)
	// AdmitUnverified reports whether a rejected notification may be recorded now; anyone can
	// send those, so they are rate-limited, and one not admitted is not even read.
	AdmitUnverified() bool
}

// loadApp returns the `antom` app of this config.
func loadApp(ctx caddy.Context) (App, error) {
	v, err := ctx.App("antom")
	if err != nil {
		return nil, fmt.Errorf("loading the antom app: %v", err)
	}
	app, ok := v.(App)
	if !ok {
		return nil, fmt.Errorf("the antom app has an unexpected type %T", v)
	}
	return app, nil
}
