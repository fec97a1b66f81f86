// Package caddyantom is a Caddy app and a set of HTTP handlers that put Caddy between a merchant's
// application and Antom (Alipay Global): it terminates Antom's signed notifications, forwards
// verified events durably to the app, and signs the app's API calls so that the merchant private
// key lives only in Caddy.
package caddyantom

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/adminapi"
	"github.com/caddy-antom/caddy-antom/antom"
	_ "github.com/caddy-antom/caddy-antom/command" // the `caddy antom ...` subcommands
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/handlers"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/reconcile"
	"github.com/caddy-antom/caddy-antom/stores"
)

func init() {
	caddy.RegisterModule(new(App))
	adminapi.SetRunning(func() adminapi.App {
		if a := running.Load(); a != nil {
			return a
		}
		return nil
	})
}

// running is the started antom app of the active config. The admin endpoints outlive configs, so
// they find the app here rather than holding on to one.
var running atomic.Pointer[App]

// App is the `antom` Caddy app. It owns what the handlers share: the merchant profiles, the
// durable event store, and the background workers that deliver events to the merchant's app and
// reconcile payments. Configure it with the `antom` global option.
type App struct {
	// Profiles are the merchant accounts by name. Handlers pick one with `profile <name>`; the one
	// named "default" is used when they do not.
	Profiles map[string]*Profile `json:"profiles,omitempty"`

	// Retention is how long delivered and dead-lettered events are kept, which is also how long a
	// repeated notification is recognised as a duplicate. Default: 7 days.
	Retention caddy.Duration `json:"retention,omitempty"`

	ctx        caddy.Context
	log        *zap.Logger
	events     *caddyevents.App
	store      outbox.EventStore
	forwarder  *delivery.Forwarder
	dispatcher *delivery.Dispatcher

	routesMu sync.RWMutex
	routes   map[string]delivery.Route
	paused   pauses        // route ids whose deliveries are paused (pause.go)
	health   forwardHealth // consecutive failures per route (health.go)

	activity *activityRecorder // the timeline's activities, written off the payment path

	reconciler  *reconcile.Worker
	reconcileMu sync.RWMutex
	reconciles  map[string]reconcile.Config // by profile, from antom_api handlers with `reconcile`

	stop    context.CancelFunc
	stopped chan struct{}
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "antom",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves the profiles' secrets, opens the event store in Caddy's configured storage
// and prepares (but does not start) the workers.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.log = ctx.Logger()
	a.routes = make(map[string]delivery.Route)
	if a.Retention <= 0 {
		a.Retention = caddy.Duration(outbox.DefaultRetention)
	}
	registerMetrics(ctx.GetMetricsRegistry(), a.log)

	for _, name := range a.ProfileNames() {
		if err := a.Profiles[name].provision(name); err != nil {
			return err
		}
	}

	eventsApp, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("loading the events app: %v", err)
	}
	a.events = eventsApp.(*caddyevents.App)

	storeApp, err := ctx.App("antom_store")
	if err != nil {
		return fmt.Errorf("loading the antom event store: %v", err)
	}
	a.store = storeApp.(*stores.StoreApp).EventStore()
	a.forwarder = &delivery.Forwarder{}
	if err := a.loadPauses(ctx); err != nil {
		a.log.Warn("the paused forwards could not be read; every forward's deliveries wait until they are (retried every 10 s)", zap.Error(err))
	}
	opts := delivery.DispatcherOptions{Retention: time.Duration(a.Retention), Paused: a.paused.has, RouteIDs: a.routeIDs}
	// The SQL stores commit a notification before its first attempt: its outcome need not hold
	// Antom's ack (the retired file store writes the event only with the outcome).
	a.observe(&opts)
	a.dispatcher = delivery.NewDispatcher(a.store, a.forwarder, a.route, a.log.Named("delivery"), opts)

	a.activity = newActivityRecorder(a.store, a.log.Named("activity"))
	a.reconciles = make(map[string]reconcile.Config)
	ropts := reconcile.Options{
		Profile: a.reconcileProfile,
		Route:   a.RouteFor,
		Kick:    a.dispatcher.Kick,
		Record:  a.RecordActivity,
		Log:     a.log.Named("reconcile"),
	}
	a.observeReconcile(&ropts)
	a.reconciler = reconcile.New(a.store, ropts)
	return nil
}

// ProfileNames returns the merchant profiles' names, sorted.
func (a *App) ProfileNames() []string {
	names := make([]string, 0, len(a.Profiles))
	for name := range a.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Start runs the background workers on this instance: every instance sharing the event store
// does, each on the events it claimed (leases: an old and a new config overlapping during a
// reload never deliver one event twice at once).
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	running.Store(a)
	a.stopped = make(chan struct{})
	go func() {
		defer close(a.stopped)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			a.lead(ctx)
		}()
		go func() {
			defer wg.Done()
			a.activity.run(ctx) // on every instance: each records what it sees
		}()
		go func() {
			defer wg.Done()
			a.watchQueue(ctx)
		}()
		wg.Wait()
	}()
	return nil
}

// lead runs the background workers until ctx ends: the delivery retries and, if an antom_api
// has `reconcile`, the inquiries about payments whose notification is missing. Every instance
// runs them; the store's leases give each event and payment to one instance at a time.
func (a *App) lead(ctx context.Context) {
	a.log.Info("this instance delivers events", zap.String("store", fmt.Sprintf("%T", a.store)))
	var wg sync.WaitGroup
	if profiles := a.reconcileProfiles(); len(profiles) > 0 {
		for _, name := range profiles {
			if r, err := a.RouteFor(name); err != nil {
				a.log.Error("antom_api reconciles payments of this profile, but results found by inquiry cannot be delivered until it has exactly one antom_webhook",
					zap.String("profile", name), zap.Error(err))
			} else if r.Format == delivery.FormatAntom && r.AntomSigner == nil {
				a.log.Error("antom_api reconciles payments of this profile, but its antom_webhook passes Antom's signature through (forward_format antom without forward_key), "+
					"and Antom never signed results found by inquiry as notifications: they cannot be delivered; add forward_key",
					zap.String("profile", name))
			}
		}
		a.log.Info("this instance reconciles payments whose notification is missing", zap.Strings("profiles", profiles))
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.reconciler.Run(ctx)
		}()
	}
	a.dispatcher.Run(ctx)
	wg.Wait()
}

// watchQueue keeps the queue-depth gauges current on every instance.
func (a *App) watchQueue(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		a.measureOldestPending(ctx)
		if counts, err := a.store.Counts(ctx); err == nil {
			setQueueDepth(counts)
		}
		if n, err := a.store.CountPayments(ctx, outbox.StatePending); err == nil {
			paymentsPending.Set(float64(n))
		}
		a.followPauses(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Stop stops the workers. Deliveries already sent (the background retries, and first attempts
// that outlived their notification's sync_timeout) are not cut short: Stop waits until each has
// ended, within the forward's timeout, and its outcome is recorded, so the next config (or the
// next leader) never sends again an event the app may be working on. Deliveries not yet sent are
// left to the next config. A reload therefore takes up to the forward's timeout while an app is
// slow.
func (a *App) Stop() error {
	if a.stop == nil {
		return nil
	}
	running.CompareAndSwap(a, nil)
	a.stop()
	settled := make(chan struct{})
	go func() {
		<-a.stopped
		a.dispatcher.Wait()
		close(settled)
	}()
	// The attempts' bound, then the store update after them (the dispatcher's 10 s) and a margin.
	wait := a.forwarder.AttemptTimeout() + 15*time.Second
	select {
	case <-settled:
	case <-time.After(wait):
		a.log.Warn("antom workers did not stop in time; deliveries still running are recorded when they end, if this config's store is still open",
			zap.Duration("waited", wait))
	}
	return nil
}

// Client returns the signed, verifying gateway client of a profile.
func (a *App) Client(profile string) (*antom.Client, error) {
	if profile == "" {
		profile = defaultProfile
	}
	p, ok := a.Profiles[profile]
	if !ok {
		return nil, fmt.Errorf("no antom profile named %q; define it in the global options: antom %s { client_id ... }", profile, profile)
	}
	return p.client, nil
}

// Store is the durable event store.
func (a *App) Store() outbox.EventStore { return a.store }

// DedupRetention is how long delivered and dead events are kept (handlers.App).
func (a *App) DedupRetention() time.Duration { return time.Duration(a.Retention) }

// DeliverNow makes the first, synchronous delivery attempt of a freshly stored event.
func (a *App) DeliverNow(ctx context.Context, ev *outbox.Event) delivery.Attempt {
	return a.dispatcher.DeliverNow(ctx, ev)
}

// RecordActivity queues an activity for the payments' timelines; it never blocks (a full queue
// drops it, counted in caddy_antom_activity_dropped_total).
func (a *App) RecordActivity(act *outbox.Activity) {
	r := a.activity
	// A request of a config generation that was stopped (a reload) may still finish: the
	// running generation's writer takes its record.
	if cur := running.Load(); r.stopped.Load() && cur != nil {
		r = cur.activity
	}
	r.record(act)
}

// AdmitUnverified reports whether a rejected notification's claimed ids may be recorded now
// (at most 10 a second).
func (a *App) AdmitUnverified() bool { return a.activity.admitUnverified() }

// Logger is the app's logger (adminapi.ForwardsApp).
func (a *App) Logger() *zap.Logger { return a.log }

// ForwardFull reports whether the forward routeID is at its max_in_flight or rate now
// (handlers.App).
func (a *App) ForwardFull(routeID string) bool { return a.dispatcher.Full(routeID) }

// Kick wakes the delivery workers, e.g. after an admin replay.
func (a *App) Kick() { a.dispatcher.Kick() }

// Emit sends a Caddy event; data must hold no secrets or card data.
func (a *App) Emit(name string, data map[string]any) {
	if a.events != nil && a.events.ShouldEmit(name) {
		a.events.Emit(a.ctx, name, data)
	}
}

// Interface guards
var (
	_ caddy.App                   = (*App)(nil)
	_ caddy.Provisioner           = (*App)(nil)
	_ handlers.App                = (*App)(nil)
	_ handlers.ReconcileRegistrar = (*App)(nil)
	_ handlers.DedupRetainer      = (*App)(nil)
	_ adminapi.ForwardsApp        = (*App)(nil)
)
