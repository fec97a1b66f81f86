package delivery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/internal/held"
	"github.com/caddy-antom/caddy-antom/internal/tracing"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// DispatcherOptions tunes a Dispatcher; zero values mean the defaults.
type DispatcherOptions struct {
	// Concurrency bounds the deliveries Run makes at once, to all forwards
	// together (default 16). Each forward has its own, usually lower, bound
	// (Route.MaxInFlight) that DeliverNow respects too.
	Concurrency int
	// PollInterval is how often Run looks for due events without a Kick
	// (default 1s).
	PollInterval time.Duration
	// UnknownRouteDelay is how long an event whose route is not configured
	// waits before it is looked at again (default 1m).
	UnknownRouteDelay time.Duration
	// OrphanMaxAge is how long an event whose route stays unknown is kept
	// pending before it goes dead (default 7 days); the route may come back
	// with the next config.
	OrphanMaxAge time.Duration
	// Retention is passed to Store.Prune (default outbox.DefaultRetention).
	Retention time.Duration
	// PruneInterval is how often Run prunes old delivered and dead events
	// (default 1h; negative: never).
	PruneInterval time.Duration
	// StoreTimeout bounds each store update after an attempt (default 10s).
	StoreTimeout time.Duration

	// Hooks for metrics and events, called after the store was updated.
	// They run on delivery goroutines and must be quick.
	OnDelivered func(ev *outbox.Event, a Attempt)
	OnFailed    func(ev *outbox.Event, a Attempt, next time.Time)
	OnDead      func(ev *outbox.Event, a Attempt)

	// RouteIDs lists the ids of the configured routes (nil: only those Run delivers to now
	// are known), so that Run claims no more of a route's events than its max_in_flight lets
	// start.
	RouteIDs func() []string

	// Paused reports whether deliveries to a route are paused (nil: never), as this instance
	// last read the store's pauses. The store's Claim and AddDelivering exclude a paused
	// route's events themselves; Paused stops an attempt about to start on an event claimed
	// before the pause. The events stay pending, and a Kick after the resume wakes Run to deliver them.
	Paused func(routeID string) bool

	// Rand is the jitter source for NextDelay (nil: math/rand/v2).
	Rand func() float64
}

// Dispatcher delivers pending events: Run is the background retry loop
// (start it in the app's Start, on every instance, and cancel its context
// in Stop); DeliverNow is the synchronous first attempt from the request
// path. Which events go when is the store's decision (outbox.EventStore's
// Claim and AddDelivering): it leaves out paused forwards and the events
// waiting behind an earlier one of their payment, across instances, reloads
// and restarts, so the Dispatcher keeps no order of its own. An attempt, once
// sent, is never cut short by its caller: it ends within the Forwarder's
// timeout and its outcome is recorded (see Run, DeliverNow and Wait).
type Dispatcher struct {
	store  outbox.EventStore
	fwd    *Forwarder
	routes func(id string) (Route, bool)
	log    *zap.Logger
	opts   DispatcherOptions

	kick chan struct{}
	sem  chan struct{} // Run's delivery slots

	mu       sync.Mutex
	inflight map[string]int   // ids being delivered by this Dispatcher: their holds (claim; a first attempt that outlived DeliverNow)
	late     int              // DeliverNow's attempts that outlived their caller, not yet recorded
	settled  *sync.Cond       // on mu: late fell to 0
	held     held.Set         // events whose last outcome the store failed to record
	gates    map[string]*gate // per route id: its max_in_flight and rate
	loads    map[string]*load // per route id: Run's deliveries under way
	pruning  atomic.Bool

	fillErrAt time.Time // when Run last logged a failure to look for due events
	fillFails int       // failures to look for due events in a row
	fillRetry time.Time // no looking before this while the store fails
}

// NewDispatcher returns a Dispatcher. routes resolves an event's route id to
// its current configuration (false: no antom_webhook forwards there now).
func NewDispatcher(store outbox.EventStore, fwd *Forwarder, routes func(id string) (Route, bool), log *zap.Logger, opts DispatcherOptions) *Dispatcher {
	if fwd == nil {
		fwd = &Forwarder{}
	}
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.UnknownRouteDelay <= 0 {
		opts.UnknownRouteDelay = time.Minute
	}
	if opts.OrphanMaxAge <= 0 {
		opts.OrphanMaxAge = 7 * 24 * time.Hour
	}
	if opts.Retention <= 0 {
		opts.Retention = outbox.DefaultRetention
	}
	if opts.PruneInterval == 0 {
		opts.PruneInterval = time.Hour
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 10 * time.Second
	}
	d := &Dispatcher{
		store:    store,
		fwd:      fwd,
		routes:   routes,
		log:      log,
		opts:     opts,
		kick:     make(chan struct{}, 1),
		sem:      make(chan struct{}, opts.Concurrency),
		inflight: map[string]int{},
		gates:    map[string]*gate{},
		loads:    map[string]*load{},
	}
	d.settled = sync.NewCond(&d.mu)
	return d
}

// Kick wakes Run to look for due events now (e.g. after an admin replay).
// It never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers due events until ctx is cancelled, then waits for the
// deliveries in progress and returns. It claims from the store only what it
// will deliver now (each forward's room under its max_in_flight) and looks
// again at each PollInterval, at a Kick, and when one of its deliveries ends.
// A delivery already sent is not cut short, since the app may act on it: it
// ends within the Forwarder's timeout and its outcome is recorded before Run
// returns, so the next config or instance does not send it again. A delivery
// not yet sent (waiting for its forward's rate) is handed back: the event
// stays due for the next config or instance.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(d.opts.PollInterval)
	defer tick.Stop()
	lastPrune := time.Now()
	d.log.Debug("dispatcher started", zap.Int("concurrency", d.opts.Concurrency))
	polled := true
	for {
		d.fill(ctx, &wg, polled)
		if d.opts.PruneInterval > 0 && time.Since(lastPrune) >= d.opts.PruneInterval {
			lastPrune = time.Now()
			d.prune(ctx, &wg)
		}
		select {
		case <-ctx.Done():
			d.log.Debug("dispatcher stopping")
			return
		case <-d.kick:
			polled = false
		case <-tick.C:
			polled = true
		}
	}
}

// fill starts deliveries for due events while slots are free. It waits for
// at least half the slots to be free (or all of them idle) before asking
// the store, so a busy dispatcher does not scan once per completion. Woken by
// a kick (polled false) while every configured forward has its max_in_flight
// of Run's deliveries, it does not ask either: the end of one of them kicks
// again, and the events of forwards not configured here wait for the poll.
func (d *Dispatcher) fill(ctx context.Context, wg *sync.WaitGroup, polled bool) {
	free := cap(d.sem) - len(d.sem)
	if free == 0 || (free < (cap(d.sem)+1)/2 && len(d.sem) > 0) {
		return
	}
	t := now()
	if t.Before(d.fillRetry) {
		return // the store failed: every notification's kick would otherwise ask it again
	}
	room := d.room()
	if !polled && d.noRoom(room) {
		return // at a forward's max_in_flight, every notification stored for Run kicks it
	}
	d.held.Forget(t.Add(-staleHeld))
	evs, err := d.store.Claim(ctx, outbox.ClaimRequest{Limit: free, Free: room, Others: free})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		d.fillFails++
		d.fillRetry = t.Add(min(NextDelay(d.fillFails, 0, d.opts.Rand), maxClaimBackoff))
		// Logged at most once a minute while storage stays broken.
		if time.Since(d.fillErrAt) >= fillErrLogInterval {
			d.fillErrAt = time.Now()
			d.log.Error("looking for due events", zap.Error(err), zap.Time("next_try", d.fillRetry),
				zap.Duration("logged_at_most_every", fillErrLogInterval))
		}
		return
	}
	d.fillFails, d.fillRetry = 0, time.Time{}
	for _, ev := range evs {
		// Handed back: held back after a failed store update or being delivered here already;
		// paused since the claim (the next claims leave it out); or its forward has
		// max_in_flight of Run's deliveries (the next claims leave it out until one ends).
		if d.busy(ev.ID, t) || d.paused(ev.Route) || !d.startOn(ev) {
			d.handBack(ctx, ev)
			continue
		}
		if !d.claim(ev.ID) {
			d.endOn(ev.Route)
			d.handBack(ctx, ev) // DeliverNow took it meanwhile
			continue
		}
		d.sem <- struct{}{} // never blocks: only this goroutine takes slots
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				d.release(ev.ID)
				d.endOn(ev.Route)
				<-d.sem
				d.Kick()
			}()
			d.process(ctx, ev, true)
		}()
	}
}

// DeliverNow makes one delivery attempt for ev right away and records the
// outcome in the store the same way Run does (delivered, rescheduled or
// dead); it updates ev. It waits for the outcome while ctx lasts (the
// handler's sync_timeout); when ctx ends first, the attempt goes on (see
// firstAttempt) and DeliverNow returns once ev is written pending, due only
// after the attempt's bound, with Err saying so. When the forward is paused
// or at its max_in_flight or rate, it makes no attempt: the event is made due
// at once for Run, which delivers it when its turn comes, and Err says so.
// Call it from AddDelivering's deliver, which the store calls only when the
// event may go now (its forward is not paused in the store and no earlier
// event of its payment is pending) and with the event claimed, so that no
// other instance delivers it in parallel; or on an event added with
// NextAttempt in the future (Add's default grace) that may go now. If this
// Dispatcher is delivering ev already, DeliverNow returns at once with
// Err "delivery already in progress".
func (d *Dispatcher) DeliverNow(ctx context.Context, ev *outbox.Event) Attempt {
	if !d.claim(ev.ID) {
		return Attempt{Err: "delivery already in progress"}
	}
	defer d.release(ev.ID)
	return d.process(ctx, ev, false)
}

// process makes one attempt and records its outcome. In the background
// loop (background=true), an attempt once sent runs to its end and is
// recorded even if Run is stopping; one not yet started is handed back.
func (d *Dispatcher) process(ctx context.Context, ev *outbox.Event, background bool) Attempt {
	d.restoreAttempts(ev)
	route, ok := d.routes(ev.Route)
	if !ok {
		return d.unroutable(ctx, ev)
	}
	if d.paused(route.ID) {
		const why = "the forward is paused; delivering after resume"
		if background {
			d.handBack(ctx, ev) // paused since fill looked: the store's claims leave it out now
			return Attempt{Err: why}
		}
		// Made due at once: the store's claims leave it out while the pause lasts, and it is
		// delivered right after the resume, not after a grace period.
		return d.leaveToRun(ctx, ev, why)
	}
	g := d.gate(route)
	if !background {
		if !g.tryEnter() {
			return d.leaveToRun(ctx, ev, "the forward is at its max_in_flight or rate; delivering in the background")
		}
	} else if err := g.enter(ctx); err != nil {
		d.handBack(ctx, ev) // Run is stopping before the attempt started; the event stays due
		return Attempt{Err: "cancelled"}
	}
	if !background {
		return d.firstAttempt(ctx, ev, route, g)
	}
	// A retry joins the trace of the notification. Once sent it runs to its end, Run stopping or not.
	a := d.fwd.Deliver(tracing.Resume(context.WithoutCancel(ctx), ev.TraceParent), route, ev)
	g.leave()
	d.record(ctx, ev, route, a)
	return a
}

// firstAttempt makes DeliverNow's attempt (through g, entered) and records its outcome. It waits
// for it while ctx lasts. When ctx ends first, the attempt goes on, since the app may be working
// on it, within the Forwarder's timeout: ev is written pending with its next attempt after that
// bound and the time to record the outcome, so that neither Run nor another instance sends it
// meanwhile (and Antom may be acknowledged: the event is stored), and the outcome is recorded on
// the event as stored when it comes. Wait waits for those outcomes.
func (d *Dispatcher) firstAttempt(ctx context.Context, ev *outbox.Event, route Route, g *gate) Attempt {
	bound := now().Add(d.fwd.AttemptTimeout() + d.opts.StoreTimeout)
	sent := *ev // what the attempt reads: ev may be written meanwhile
	done := make(chan Attempt, 1)
	go func() { done <- d.fwd.Deliver(context.WithoutCancel(ctx), route, &sent) }()
	select {
	case a := <-done:
		g.leave()
		d.settle(ev, false, func(ev *outbox.Event) { d.record(ctx, ev, route, a) })
		return a
	case <-ctx.Done():
	}

	d.mu.Lock()
	d.inflight[ev.ID]++ // until the outcome is recorded: Run and DeliverNow leave ev alone
	d.late++
	d.mu.Unlock()
	a := Attempt{Err: "the app did not answer within sync_timeout; the attempt goes on in the background"}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
	if err := d.store.Reschedule(sctx, ev, bound, a.Err, 0); err != nil {
		// AddDelivering stores the event itself, or the notification is not acknowledged.
		d.log.Warn("could not store an event whose first delivery is still running", zap.String("id", ev.ID), zap.Error(err))
	}
	cancel()
	stored := *ev
	stored.History = slices.Clone(ev.History)
	go func() {
		a := <-done
		g.leave()
		d.record(ctx, &stored, route, a)
		d.lateDone(ev.ID)
	}()
	return a
}

// settle runs write, the store update that ends the handling of ev. For DeliverNow
// (background false: its outcome, or handing it to Run) it runs in the background on a copy of
// ev, which Run and DeliverNow leave alone until it is written and Wait waits for: the store's
// AddDelivering wrote the event, claimed, before deliver, so Antom's ack waits for that one
// commit instead of two.
func (d *Dispatcher) settle(ev *outbox.Event, background bool, write func(ev *outbox.Event)) {
	if background {
		write(ev)
		return
	}
	stored := *ev
	stored.History = slices.Clone(ev.History)
	d.mu.Lock()
	d.inflight[ev.ID]++
	d.late++
	d.mu.Unlock()
	go func() {
		write(&stored)
		d.lateDone(ev.ID)
	}()
}

// lateDone ends the hold of an update of id written after DeliverNow returned.
func (d *Dispatcher) lateDone(id string) {
	d.release(id)
	d.mu.Lock()
	if d.late--; d.late == 0 {
		d.settled.Broadcast()
	}
	d.mu.Unlock()
}

// Wait returns once the attempts DeliverNow left running after its caller's deadline have
// ended and their outcomes are recorded (each within the Forwarder's timeout and StoreTimeout),
// and once every update DeliverNow left to write is written.
// The app's Stop calls it so that the next config does not find them.
func (d *Dispatcher) Wait() {
	d.mu.Lock()
	for d.late > 0 {
		d.settled.Wait()
	}
	d.mu.Unlock()
}

// gate returns the gate of route, made on first use.
func (d *Dispatcher) gate(route Route) *gate {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.gates[route.ID]
	if !ok {
		g = newGate(route)
		d.gates[route.ID] = g
	}
	return g
}

// Full reports whether the forward routeID has no slot (max_in_flight) or rate token free now,
// so that a new event's first attempt would be left to Run: the webhook then stores it due at
// once instead of claimed for an attempt that cannot start, two writes fewer (the hand-back,
// and the claim it made). A slot freed meanwhile only means Run delivers it a moment later.
func (d *Dispatcher) Full(routeID string) bool {
	d.mu.Lock()
	g := d.gates[routeID]
	d.mu.Unlock()
	return g != nil && g.full()
}

// leaveToRun hands a new event whose forward is busy or paused to Run: it is made due now
// instead of after the grace the store's Add reserved for the synchronous attempt, without counting
// an attempt; the write comes after DeliverNow returns (settle). why is the Attempt's Err.
func (d *Dispatcher) leaveToRun(ctx context.Context, ev *outbox.Event, why string) Attempt {
	d.settle(ev, false, func(ev *outbox.Event) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
		defer cancel()
		if err := d.store.Reschedule(sctx, ev, now(), "", 0); err != nil {
			// The event is stored; Run finds it when the grace ends.
			d.log.Warn("could not hand an event to the background deliveries; it waits for its grace period",
				zap.String("id", ev.ID), zap.Error(err))
			return
		}
		d.Kick()
	})
	return Attempt{Err: why}
}

func (d *Dispatcher) record(ctx context.Context, ev *outbox.Event, route Route, a Attempt) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
	defer cancel()
	t := now()
	ev.Attempts++
	ev.LastStatus = a.Status
	ev.LastLatency = a.Latency // for the History step the store records
	defer func() { ev.LastLatency = 0 }()
	log := d.log.With(zap.String("id", ev.ID), zap.String("route", ev.Route), zap.String("profile", ev.Profile),
		zap.Int("attempt", ev.Attempts), zap.Int("status", a.Status), zap.Duration("latency", a.Latency))

	if a.OK {
		if err := d.store.MarkDelivered(sctx, ev, t); err != nil {
			d.hold(ctx, log, ev, t.Add(NextDelay(ev.Attempts, 0, d.opts.Rand)), "event delivered but recording it failed; it will be delivered again", err)
			return
		}
		d.held.Release(ev.ID)
		d.finished(ev)
		log.Debug("event delivered")
		if d.opts.OnDelivered != nil {
			d.opts.OnDelivered(ev, a)
		}
		return
	}

	next := t.Add(NextDelay(ev.Attempts, a.RetryAfter, d.opts.Rand))
	deadline := ev.RetryFrom().Add(route.maxAge())
	if !t.Before(deadline) {
		if err := d.store.MarkDead(sctx, ev, t, a.Err); err != nil {
			d.hold(ctx, log, ev, next, "moving event to dead failed; it stays pending and will be tried again", err)
			return
		}
		d.held.Release(ev.ID)
		d.finished(ev)
		log.Warn("event dead: not delivered within max_age; replay it from the admin API once the app is fixed",
			zap.Duration("max_age", route.maxAge()), zap.String("error", a.Err))
		if d.opts.OnDead != nil {
			d.opts.OnDead(ev, a)
		}
		return
	}
	if next.After(deadline) {
		next = deadline // one last attempt at max_age
	}
	if err := d.store.Reschedule(sctx, ev, next, a.Err, a.Status); err != nil {
		d.hold(ctx, log, ev, next, "rescheduling event failed; it will be tried again", err)
		return
	}
	d.held.Release(ev.ID)
	// The first failure of an event is worth a warning; the retries of an
	// app that stays down would flood the log (metrics count them).
	lvl := zap.DebugLevel
	if ev.Attempts == 1 {
		lvl = zap.WarnLevel
	}
	log.Log(lvl, "event delivery failed; will retry", zap.String("error", a.Err), zap.Time("next_attempt", next))
	if d.opts.OnFailed != nil {
		d.opts.OnFailed(ev, a, next)
	}
}

// unroutable handles an event whose route is not configured (any more):
// it waits for a config that has it, and goes dead only after OrphanMaxAge.
// No attempt is counted.
func (d *Dispatcher) unroutable(ctx context.Context, ev *outbox.Event) Attempt {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
	defer cancel()
	t := now()
	a := Attempt{Err: "no antom_webhook forwards for route " + ev.Route + " (profile " + ev.Profile +
		"); configure a webhook with this profile and forward URL, or replay the event after fixing the config"}
	log := d.log.With(zap.String("id", ev.ID), zap.String("route", ev.Route), zap.String("profile", ev.Profile))
	next := t.Add(d.opts.UnknownRouteDelay)
	if t.Sub(ev.ReceivedAt) >= d.opts.OrphanMaxAge {
		if err := d.store.MarkDead(sctx, ev, t, a.Err); err != nil {
			d.hold(ctx, log, ev, next, "moving event to dead failed; it stays pending", err)
			return a
		}
		d.held.Release(ev.ID)
		d.finished(ev)
		log.Warn("event dead: its route stayed unconfigured")
		if d.opts.OnDead != nil {
			d.opts.OnDead(ev, a)
		}
		return a
	}
	lvl := zap.WarnLevel
	if ev.LastError == a.Err {
		lvl = zap.DebugLevel // warned already
	}
	if err := d.store.Reschedule(sctx, ev, next, a.Err, 0); err != nil {
		d.hold(ctx, log, ev, next, "rescheduling event failed", err)
		return a
	}
	d.held.Release(ev.ID)
	log.Log(lvl, "event has no route; waiting for a config that has it", zap.Time("next_attempt", next))
	if d.opts.OnFailed != nil {
		d.opts.OnFailed(ev, a, next)
	}
	return a
}

func (d *Dispatcher) prune(ctx context.Context, wg *sync.WaitGroup) {
	if !d.pruning.CompareAndSwap(false, true) {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer d.pruning.Store(false)
		n, err := d.store.Prune(ctx, now(), d.opts.Retention)
		if err != nil && ctx.Err() == nil {
			d.log.Error("pruning old events", zap.Error(err))
		}
		if n > 0 {
			d.log.Info("pruned old events", zap.Int("count", n), zap.Duration("retention", d.opts.Retention))
		}
	}()
}

// load counts Run's deliveries to one route. Run starts no more of them than the forward's
// max_in_flight, so that a forward held back by its rate or a slow app takes no more of Run's
// slots than that, and the other forwards' events are delivered meanwhile.
type load struct{ running, max int }

// startOn counts ev as one of Run's deliveries to its route, unless the route has max_in_flight
// of them already (a claim made before its room was known): then ev is handed back, and the
// next claims leave the route's events out until one of them ends (room).
func (d *Dispatcher) startOn(ev *outbox.Event) bool {
	max := d.opts.Concurrency // an unknown route: process reschedules it at once
	if route, ok := d.routes(ev.Route); ok {
		max = route.maxInFlight()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.loads[ev.Route]
	if l == nil {
		l = &load{}
		d.loads[ev.Route] = l
	}
	l.max = max
	if l.running >= l.max {
		return false
	}
	l.running++
	return true
}

// room returns, for each configured route (and each route Run delivers to now), how many more
// of Run's deliveries to it may start: what Claim may hand out of it.
func (d *Dispatcher) room() map[string]int {
	var ids []string
	if d.opts.RouteIDs != nil {
		ids = d.opts.RouteIDs()
	}
	out := make(map[string]int, len(ids))
	for _, id := range ids {
		if r, ok := d.routes(id); ok {
			out[id] = r.maxInFlight()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, l := range d.loads {
		out[id] = max(l.max-l.running, 0)
	}
	return out
}

// noRoom reports whether every configured route (RouteIDs; none known: false) has no room in
// room, as returned by d.room.
func (d *Dispatcher) noRoom(room map[string]int) bool {
	if d.opts.RouteIDs == nil {
		return false
	}
	ids := d.opts.RouteIDs()
	for _, id := range ids {
		if room[id] > 0 {
			return false
		}
	}
	return len(ids) > 0
}

// endOn counts the end of one of Run's deliveries to routeID.
func (d *Dispatcher) endOn(routeID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.loads[routeID]; l != nil {
		if l.running--; l.running <= 0 {
			delete(d.loads, routeID)
		}
	}
}

func (d *Dispatcher) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, busy := d.inflight[id]; busy {
		return false
	}
	d.inflight[id] = 1
	return true
}

// release ends one hold on id (a claim, or firstAttempt's attempt that outlived DeliverNow).
func (d *Dispatcher) release(id string) {
	d.mu.Lock()
	if d.inflight[id]--; d.inflight[id] <= 0 {
		delete(d.inflight, id)
	}
	d.mu.Unlock()
}

// busy reports whether Run must leave the event with id alone at t: it is being delivered, or
// it is held back after its outcome could not be recorded.
func (d *Dispatcher) busy(id string, t time.Time) bool {
	d.mu.Lock()
	_, busy := d.inflight[id]
	d.mu.Unlock()
	return busy || d.held.Waiting(id, t)
}

func (d *Dispatcher) paused(routeID string) bool {
	return d.opts.Paused != nil && d.opts.Paused(routeID)
}

// handBack returns an event Run got from the store, unchanged: the store would otherwise keep
// renewing this instance's lease on it, and no instance could take it up again.
func (d *Dispatcher) handBack(ctx context.Context, ev *outbox.Event) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
	defer cancel()
	if err := d.store.Release(sctx, ev); err != nil && ctx.Err() == nil {
		d.log.Debug("handing an event back to the store", zap.String("id", ev.ID), zap.Error(err))
	}
}

// finished is called once ev is delivered or dead: when the store found an event of its payment
// waiting behind it (Followed), that one may go now, and Run looks for it without waiting for
// its next poll. Kicking after every delivery would have Run look for due events once per
// notification, for nothing when no event waits.
func (d *Dispatcher) finished(ev *outbox.Event) {
	if ev.Followed {
		d.Kick()
	}
}

// fillErrLogInterval is how often a persisting failure to look for due events is logged.
const fillErrLogInterval = time.Minute

// maxClaimBackoff caps the wait between looks for due events while the store keeps failing, so
// deliveries resume soon after it recovers.
const maxClaimBackoff = 30 * time.Second

// staleHeld is how long after its next attempt a held event is forgotten if Run never got
// to it again: storage no longer lists it as due (another instance finished it, or an admin
// replayed it). Should it still be due, it is retried with its stored attempt count.
const staleHeld = maxDelay

// hold keeps ev back until next, with its attempt count, after a store update failed: the
// event backs off like a failed delivery although storage still says it is due. Its claim is
// handed back, so that the store stops renewing the lease and hands the event out again
// (Run then passes it over here until next). The first failure of an event is logged as an
// error, the following ones (every backoff step while storage stays broken) at debug level.
//
// An update refused because this instance's claim ended (outbox.ErrClaimLost: its lease ran out
// and another instance took the event, or an operator replayed it) is not held: the event is
// someone else's now, and retrying the write would undo their work.
func (d *Dispatcher) hold(ctx context.Context, log *zap.Logger, ev *outbox.Event, next time.Time, msg string, err error) {
	if errors.Is(err, outbox.ErrClaimLost) {
		d.held.Release(ev.ID)
		log.Warn("the outcome of a delivery attempt was not recorded: this instance's claim on the event ended "+
			"(its lease ran out and another instance took it, or it was replayed); the app may see it again with the same webhook-id",
			zap.Error(err))
		return
	}
	lvl := zap.ErrorLevel
	if d.held.Hold(ev.ID, ev.Attempts, next) {
		lvl = zap.DebugLevel
	}
	log.Log(lvl, msg, zap.Error(err), zap.Time("next_attempt", next))
	d.handBack(ctx, ev)
}

// restoreAttempts gives ev, freshly loaded from storage, the attempts made while storage
// could not record them.
func (d *Dispatcher) restoreAttempts(ev *outbox.Event) {
	ev.Attempts = max(ev.Attempts, d.held.Attempts(ev.ID))
}
