package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// fakeClock replaces the package clock for one test. Install it before
// starting goroutines; it is restored at cleanup, after they stopped. It
// starts at the real time: the store decides what is due on its own clock
// (the database's), so an event made due at the fake time is due there too,
// and one due later on the fake clock falls due as real time passes.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func useFakeClock(t *testing.T) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().Truncate(time.Microsecond).UnixNano())
	old := now
	now = c.Now
	t.Cleanup(func() { now = old })
	return c
}

// app is a merchant app test double that records what it receives.
type app struct {
	srv     *httptest.Server
	mu      sync.Mutex
	status  int                    // answer status
	retry   string                 // Retry-After to send
	ok      map[string]int         // webhook-id -> 2xx answers given
	seen    map[string][]string    // webhook-id -> Antom-Attempt values
	at      map[string][]time.Time // webhook-id -> when each attempt arrived (real clock)
	running atomic.Int32
	maxRun  atomic.Int32
	block   chan struct{} // if non-nil, requests wait for it
}

func newApp(t *testing.T) *app {
	a := &app{status: 200, ok: map[string]int{}, seen: map[string][]string{}, at: map[string][]time.Time{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := a.running.Add(1)
		defer a.running.Add(-1)
		for {
			m := a.maxRun.Load()
			if n <= m || a.maxRun.CompareAndSwap(m, n) {
				break
			}
		}
		io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		block := a.block
		a.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		id := r.Header.Get("webhook-id")
		a.seen[id] = append(a.seen[id], r.Header.Get("Antom-Attempt"))
		a.at[id] = append(a.at[id], time.Now())
		if a.retry != "" {
			w.Header().Set("Retry-After", a.retry)
		}
		w.WriteHeader(a.status)
		if a.status >= 200 && a.status < 300 {
			a.ok[id]++
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) setBlock(ch chan struct{}) {
	a.mu.Lock()
	a.block = ch
	a.mu.Unlock()
}

func (a *app) set(status int, retry string) {
	a.mu.Lock()
	a.status, a.retry = status, retry
	a.mu.Unlock()
}

type fixture struct {
	store *sqlstore.Store
	app   *app
	route Route
	disp  *Dispatcher
	clock *fakeClock

	mu        sync.Mutex
	delivered []string
	failed    []string
	dead      []string
}

func newFixture(t *testing.T, opts DispatcherOptions) *fixture {
	return newFixtureOn(t, nil, zaptest.NewLogger(t), opts)
}

// newFixtureOn is newFixture with its logger, delivering through wrap(store) (nil: the store).
func newFixtureOn(t *testing.T, wrap func(*sqlstore.Store) outbox.EventStore, log *zap.Logger, opts DispatcherOptions) *fixture {
	f := &fixture{clock: useFakeClock(t), app: newApp(t), store: teststore.SQLite(t)}
	var store outbox.EventStore = f.store
	if wrap != nil {
		store = wrap(f.store)
	}
	f.route = Route{ID: RouteID("shop", f.app.srv.URL), Profile: "shop", URL: f.app.srv.URL, Secrets: []Secret{testSecret(t)}, MaxAge: 24 * time.Hour}
	opts.OnDelivered = func(ev *outbox.Event, a Attempt) { f.record(&f.delivered, ev.ID) }
	opts.OnFailed = func(ev *outbox.Event, a Attempt, next time.Time) { f.record(&f.failed, ev.ID) }
	opts.OnDead = func(ev *outbox.Event, a Attempt) { f.record(&f.dead, ev.ID) }
	routes := func(id string) (Route, bool) {
		if id == f.route.ID {
			return f.route, true
		}
		return Route{}, false
	}
	f.disp = NewDispatcher(store, &Forwarder{Timeout: 5 * time.Second}, routes, log, opts)
	return f
}

func (f *fixture) record(list *[]string, id string) {
	f.mu.Lock()
	*list = append(*list, id)
	f.mu.Unlock()
}

// add stores an event as the webhook handler would (with the default grace).
// deliverNow is DeliverNow with its outcome written: DeliverNow returns once the app answered
// and writes the outcome after (Wait waits for it).
func (f *fixture) deliverNow(ctx context.Context, ev *outbox.Event) Attempt {
	a := f.disp.DeliverNow(ctx, ev)
	f.disp.Wait()
	return a
}

func (f *fixture) add(t *testing.T, key string, receivedAgo time.Duration) *outbox.Event {
	ev := testEvent(key)
	ev.Route = f.route.ID
	ev.ReceivedAt = f.clock.Now().Add(-receivedAgo)
	added, err := f.store.Add(context.Background(), ev)
	if err != nil || !added {
		t.Fatal(added, err)
	}
	return ev
}

// addDue stores an event due at once, for Run: as if the grace of Add had passed (the store's
// clock, the database's, cannot be advanced).
func (f *fixture) addDue(t *testing.T, key string) *outbox.Event {
	ev := testEvent(key)
	ev.Route = f.route.ID
	ev.ReceivedAt = f.clock.Now()
	ev.NextAttempt = ev.ReceivedAt
	added, err := f.store.Add(context.Background(), ev)
	if err != nil || !added {
		t.Fatal(added, err)
	}
	return ev
}

func (f *fixture) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.disp.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Error("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, s outbox.EventStore, id string) *outbox.Event {
	t.Helper()
	ev, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// The synchronous first attempt fails (500); the background retry, with
// the same webhook-id, succeeds.
func TestDeliverNowThenRetry(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 10 * time.Millisecond})
	f.app.set(500, "")
	ev := f.add(t, "k1", 0)

	a := f.deliverNow(context.Background(), ev)
	if a.OK || a.Status != 500 {
		t.Fatalf("first attempt %+v", a)
	}
	st := get(t, f.store, ev.ID)
	if st.State != outbox.StatePending || st.Attempts != 1 || st.LastStatus != 500 || !strings.Contains(st.LastError, "500") {
		t.Fatalf("after failure: %+v", st)
	}
	if d := st.NextAttempt.Sub(f.clock.Now()); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("first retry in %v, want 0.5-1s", d)
	}
	next := st.NextAttempt

	f.app.set(200, "")
	f.clock.Advance(time.Second) // the retry falls due on the store's clock as real time passes
	f.run(t)
	eventually(t, "delivery", func() bool { return get(t, f.store, ev.ID).State == outbox.StateDelivered })
	// The hooks run after the store update.
	eventually(t, "OnDelivered", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.delivered) > 0 })

	st = get(t, f.store, ev.ID)
	if st.Attempts != 2 || st.LastStatus != 200 || st.LastError != "" || !st.DeliveredAt.Equal(f.clock.Now()) {
		t.Fatalf("delivered: %+v", st)
	}
	f.app.mu.Lock()
	defer f.app.mu.Unlock()
	if len(f.app.seen) != 1 || strings.Join(f.app.seen[ev.ID], ",") != "1,2" {
		t.Fatalf("app saw %v", f.app.seen)
	}
	if retried := f.app.at[ev.ID][1]; retried.Before(next) {
		t.Fatalf("retried at %v, before its time %v", retried, next)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failed) != 1 || len(f.delivered) != 1 || len(f.dead) != 0 {
		t.Fatalf("hooks: failed %v delivered %v dead %v", f.failed, f.delivered, f.dead)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	f := newFixture(t, DispatcherOptions{})
	f.app.set(503, "120")
	ev := f.add(t, "k", 0)
	a := f.deliverNow(context.Background(), ev)
	if a.RetryAfter != 120*time.Second {
		t.Fatalf("%+v", a)
	}
	if d := get(t, f.store, ev.ID).NextAttempt.Sub(f.clock.Now()); d != 120*time.Second {
		t.Fatalf("next attempt in %v, want 120s", d)
	}
}

func TestMaxAgeDead(t *testing.T) {
	f := newFixture(t, DispatcherOptions{})
	f.route.MaxAge = time.Hour
	f.app.set(500, "")

	// Close to max_age: the retry is clamped to the deadline.
	young := f.add(t, "young", time.Hour-time.Second)
	young.Attempts = 20 // backoff would be 1h
	f.deliverNow(context.Background(), young)
	st := get(t, f.store, young.ID)
	if st.State != outbox.StatePending || !st.NextAttempt.Equal(young.ReceivedAt.Add(time.Hour)) {
		t.Fatalf("not clamped to max_age: %+v", st)
	}
	// At max_age a failure is final.
	f.clock.Advance(time.Second)
	f.deliverNow(context.Background(), st)
	st = get(t, f.store, young.ID)
	if st.State != outbox.StateDead || !st.DeadAt.Equal(f.clock.Now()) || !strings.Contains(st.LastError, "500") {
		t.Fatalf("not dead: %+v", st)
	}
	f.mu.Lock()
	if len(f.dead) != 1 {
		t.Fatalf("OnDead calls %v", f.dead)
	}
	f.mu.Unlock()
	// A dead event can be replayed and then delivered, same id.
	f.app.set(200, "")
	rep, err := f.store.Replay(context.Background(), young.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := f.deliverNow(context.Background(), rep); !a.OK {
		t.Fatal(a)
	}
	if get(t, f.store, young.ID).State != outbox.StateDelivered {
		t.Fatal("replayed event not delivered")
	}
}

func TestUnknownRouteWaits(t *testing.T) {
	f := newFixture(t, DispatcherOptions{})
	ev := f.add(t, "orphan", 0)
	ev.Route = RouteID("shop", "http://127.0.0.1:1/removed")
	a := f.deliverNow(context.Background(), ev)
	if a.OK || !strings.Contains(a.Err, "no antom_webhook forwards for route "+ev.Route) {
		t.Fatalf("%+v", a)
	}
	st := get(t, f.store, ev.ID)
	if st.State != outbox.StatePending || st.Attempts != 0 || !strings.Contains(st.LastError, "no antom_webhook forwards") ||
		st.NextAttempt.Sub(f.clock.Now()) != time.Minute {
		t.Fatalf("orphan: %+v", st)
	}
	// Only after OrphanMaxAge (7 days) does it go dead.
	f.clock.Advance(6 * 24 * time.Hour)
	f.deliverNow(context.Background(), st)
	if st = get(t, f.store, ev.ID); st.State != outbox.StatePending {
		t.Fatal("orphan dead too early")
	}
	f.clock.Advance(24 * time.Hour)
	f.deliverNow(context.Background(), st)
	if st = get(t, f.store, ev.ID); st.State != outbox.StateDead {
		t.Fatal("orphan never dead")
	}
	f.app.mu.Lock()
	defer f.app.mu.Unlock()
	if len(f.app.seen) != 0 {
		t.Fatal("orphan delivered somewhere")
	}
}

// End to end: the app is down while notifications arrive, then comes
// back; every event is delivered, exactly one successful delivery per id.
func TestDispatcherAppDownThenUp(t *testing.T) {
	// Jitter 0: the retries come 0.5s, 1s, 2s... after the first failure.
	f := newFixture(t, DispatcherOptions{Concurrency: 4, PollInterval: 10 * time.Millisecond, Rand: func() float64 { return 0 }})
	f.app.set(503, "")
	const n = 30
	ids := map[string]bool{}
	for i := range n {
		ev := f.addDue(t, fmt.Sprint("k", i)) // past the grace of Add: the background loop owns them
		ids[ev.ID] = true
	}
	f.run(t)
	allTried := func() bool {
		evs, _ := f.store.List(context.Background(), outbox.StatePending, 0)
		for _, ev := range evs {
			if ev.Attempts == 0 {
				return false
			}
		}
		return len(evs) == n
	}
	eventually(t, "a first failed attempt for every event", allTried)

	f.app.set(200, "") // the retries fall due as real time passes (the fake clock stands still)
	eventually(t, "all delivered", func() bool {
		c, _ := f.store.Counts(context.Background())
		return c[outbox.StateDelivered] == n && c[outbox.StatePending] == 0
	})

	f.app.mu.Lock()
	defer f.app.mu.Unlock()
	if len(f.app.ok) != n {
		t.Fatalf("app acked %d ids, want %d", len(f.app.ok), n)
	}
	for id, k := range f.app.ok {
		if !ids[id] || k != 1 {
			t.Errorf("id %s delivered successfully %d times", id, k)
		}
	}
	if m := f.app.maxRun.Load(); m > 4 {
		t.Errorf("%d concurrent deliveries, Concurrency is 4", m)
	}
}

func TestDispatcherConcurrencyBound(t *testing.T) {
	f := newFixture(t, DispatcherOptions{Concurrency: 3, PollInterval: 5 * time.Millisecond})
	block := make(chan struct{})
	f.app.setBlock(block)
	for i := range 12 {
		f.addDue(t, fmt.Sprint("k", i))
	}
	f.run(t)
	eventually(t, "3 deliveries in flight", func() bool { return f.app.running.Load() == 3 })
	time.Sleep(100 * time.Millisecond) // polls keep happening; none may start
	if r := f.app.running.Load(); r != 3 {
		t.Fatalf("%d in flight, want 3", r)
	}
	close(block)
	eventually(t, "all delivered", func() bool {
		c, _ := f.store.Counts(context.Background())
		return c[outbox.StateDelivered] == 12
	})
	if m := f.app.maxRun.Load(); m != 3 {
		t.Fatalf("max concurrency %d, want 3", m)
	}
}

// runUntilCancelled runs f's dispatcher until the returned cancel; done closes when Run returned.
func (f *fixture) runUntilCancelled(t *testing.T) (cancel func(), done chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { f.disp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel, done
}

// returned reports whether done closed within d: whether Run returned.
func returned(done chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// When Run stops (a reload, or a lost leadership), a delivery it already sent is not cut short:
// the app may act on it. Run returns once it ended and its outcome is recorded; an event not yet
// sent (its forward was at max_in_flight) stays due, untouched, for the next config.
func TestDispatcherStopLetsSentDeliveriesFinish(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	f.route.MaxInFlight = 1
	block := make(chan struct{})
	f.app.setBlock(block)
	evs := []*outbox.Event{f.addDue(t, "a"), f.addDue(t, "b")}
	cancel, done := f.runUntilCancelled(t)
	eventually(t, "a delivery in flight", func() bool { return f.app.running.Load() == 1 })
	cancel()
	if returned(done, 200*time.Millisecond) {
		t.Fatal("Run returned while its delivery was in flight (cut short, not recorded)")
	}
	close(block)
	if !returned(done, 10*time.Second) {
		t.Fatal("Run did not return once its delivery ended")
	}
	f.app.mu.Lock()
	ok := map[string]int{}
	for id, n := range f.app.ok {
		ok[id] = n
	}
	f.app.mu.Unlock()
	if len(ok) != 1 {
		t.Fatalf("the app accepted %v, want one event once", ok)
	}
	for _, ev := range evs {
		st := get(t, f.store, ev.ID)
		if ok[ev.ID] == 1 && (st.State != outbox.StateDelivered || st.Attempts != 1) {
			t.Errorf("the delivery in flight at the stop: %s after %d attempt(s), want delivered after 1", st.State, st.Attempts)
		}
		if ok[ev.ID] == 0 && (st.State != outbox.StatePending || st.Attempts != 0 || st.NextAttempt.After(f.clock.Now())) {
			t.Errorf("the event not yet sent at the stop: %+v, want pending, due, no attempt", st)
		}
	}
}

// A first attempt that outlives DeliverNow's deadline (sync_timeout) goes on: DeliverNow returns
// once the event is stored pending, due only after the attempt's bound, and no second attempt
// starts while it runs (Run polls meanwhile; a second DeliverNow is refused); its outcome is
// what is recorded, and Wait returns after that.
func TestDeliverNowOutlivedByItsAttempt(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	block := make(chan struct{})
	f.app.setBlock(block)
	ev := testEvent("slow")
	ev.Route, ev.ReceivedAt = f.route.ID, f.clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var a Attempt
	added, err := f.store.AddDelivering(context.Background(), ev, func() { a = f.disp.DeliverNow(ctx, ev) })
	if err != nil || !added {
		t.Fatal(added, err)
	}
	if a.OK || !strings.Contains(a.Err, "goes on") {
		t.Fatalf("DeliverNow past its deadline: %+v", a)
	}
	st := get(t, f.store, ev.ID)
	if bound := f.clock.Now().Add(5 * time.Second); st.State != outbox.StatePending || st.Attempts != 0 || st.NextAttempt.Before(bound) {
		t.Fatalf("stored before the ack: %+v, want pending, no attempt counted yet, due after %v", st, bound)
	}
	waited := make(chan struct{})
	go func() { f.disp.Wait(); close(waited) }()

	f.run(t)
	time.Sleep(100 * time.Millisecond) // Run polls; it may start nothing
	if n := f.app.running.Load(); n != 1 {
		t.Fatalf("%d attempts of one event at the app, want the first one only", n)
	}
	if a := f.disp.DeliverNow(context.Background(), st); a.Err != "delivery already in progress" {
		t.Fatalf("DeliverNow while the first attempt runs: %+v", a)
	}
	if returned(waited, 0) {
		t.Fatal("Wait returned while the first attempt ran")
	}
	close(block)
	if !returned(waited, 10*time.Second) {
		t.Fatal("Wait did not return once the first attempt was recorded")
	}
	if st := get(t, f.store, ev.ID); st.State != outbox.StateDelivered || st.Attempts != 1 {
		t.Fatalf("after the first attempt: %+v, want delivered after 1 attempt", st)
	}
	time.Sleep(50 * time.Millisecond)
	f.app.mu.Lock()
	defer f.app.mu.Unlock()
	if got := f.app.seen[ev.ID]; len(got) != 1 || f.app.ok[ev.ID] != 1 {
		t.Fatalf("the app saw attempts %v, accepted %d; want one", got, f.app.ok[ev.ID])
	}
}

// While DeliverNow has an event (in AddDelivering, as the webhook handler calls it), Run does
// not deliver it too, and neither does a second DeliverNow.
func TestDeliverNowExcludesRun(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	block := make(chan struct{})
	f.app.setBlock(block)
	ev := testEvent("k")
	ev.Route, ev.ReceivedAt = f.route.ID, f.clock.Now()
	res := make(chan Attempt)
	go func() {
		var a Attempt
		if _, err := f.store.AddDelivering(context.Background(), ev, func() { a = f.disp.DeliverNow(context.Background(), ev) }); err != nil {
			t.Error(err)
		}
		res <- a
	}()
	eventually(t, "DeliverNow in flight", func() bool { return f.app.running.Load() == 1 })
	f.run(t)
	time.Sleep(50 * time.Millisecond)
	if r := f.app.running.Load(); r != 1 {
		t.Fatalf("%d deliveries of one event in flight", r)
	}
	if a := f.disp.DeliverNow(context.Background(), ev); a.Err != "delivery already in progress" {
		t.Fatalf("second DeliverNow: %+v", a)
	}
	close(block)
	if a := <-res; !a.OK {
		t.Fatal(a)
	}
	f.app.mu.Lock()
	defer f.app.mu.Unlock()
	if f.app.ok[ev.ID] != 1 {
		t.Fatalf("delivered %d times", f.app.ok[ev.ID])
	}
}

// Pruning runs from the loop with the configured retention.
func TestDispatcherPrunes(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond, PruneInterval: time.Nanosecond, Retention: time.Hour})
	ev := f.add(t, "old", 0)
	if a := f.deliverNow(context.Background(), ev); !a.OK {
		t.Fatal(a)
	}
	f.clock.Advance(2 * time.Hour)
	f.run(t)
	eventually(t, "prune", func() bool {
		c, _ := f.store.Counts(context.Background())
		return c[outbox.StateDelivered] == 0
	})
}

// failingWrites is a store whose writes of a delivery's outcome (MarkDelivered, MarkDead,
// Reschedule) fail while failing is set, as on a full or read-only disk; its claims still work.
type failingWrites struct {
	outbox.EventStore
	failing atomic.Bool
}

var errReadOnly = errors.New("read-only file system")

func (s *failingWrites) MarkDelivered(ctx context.Context, ev *outbox.Event, at time.Time) error {
	if s.failing.Load() {
		return errReadOnly
	}
	return s.EventStore.MarkDelivered(ctx, ev, at)
}

func (s *failingWrites) MarkDead(ctx context.Context, ev *outbox.Event, at time.Time, reason string) error {
	if s.failing.Load() {
		return errReadOnly
	}
	return s.EventStore.MarkDead(ctx, ev, at, reason)
}

func (s *failingWrites) Reschedule(ctx context.Context, ev *outbox.Event, next time.Time, lastErr string, status int) error {
	if s.failing.Load() {
		return errReadOnly
	}
	return s.EventStore.Reschedule(ctx, ev, next, lastErr, status)
}

// The store stops recording outcomes after events were stored: every delivery reaches the app
// but cannot be recorded. Each event is then retried on the backoff schedule of a failed
// delivery, with its attempt number growing, instead of at every poll (or only once the
// store's lease on it ends, minutes later); the log gets one error per event, not one per
// retry; and once the store records again the next delivery is recorded.
func TestStoreFailureBacksOff(t *testing.T) {
	st := &failingWrites{}
	core, logs := observer.New(zapcore.DebugLevel)
	// Jitter 0: the delays are exactly 0.5s, 1s, 2s, 4s.
	f := newFixtureOn(t, func(s *sqlstore.Store) outbox.EventStore { st.EventStore = s; return st },
		zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core())),
		DispatcherOptions{PollInterval: 5 * time.Millisecond, Rand: func() float64 { return 0 }})
	const n = 3
	var ids []string
	for i := range n {
		ids = append(ids, f.addDue(t, fmt.Sprint("ro", i)).ID)
	}
	st.failing.Store(true)
	f.run(t)

	attempts := func(id string) string {
		f.app.mu.Lock()
		defer f.app.mu.Unlock()
		return strings.Join(f.app.seen[id], ",")
	}
	// want waits until every event was delivered with these Antom-Attempt values, then lets
	// the dispatcher poll a hundred times more (the clock stands still) and checks that
	// nothing more was delivered.
	want := func(seen string) {
		t.Helper()
		for _, id := range ids {
			eventually(t, "deliveries "+seen+" of "+id, func() bool { return attempts(id) == seen })
		}
		time.Sleep(100 * 5 * time.Millisecond)
		for _, id := range ids {
			if got := attempts(id); got != seen {
				t.Fatalf("event %s delivered with Antom-Attempt %s while the clock stood still; want %s (one delivery per backoff step)", id, got, seen)
			}
		}
	}
	want("1")
	f.clock.Advance(499 * time.Millisecond)
	want("1")
	f.clock.Advance(time.Millisecond)
	want("1,2")
	f.clock.Advance(time.Second)
	want("1,2,3")
	f.clock.Advance(2 * time.Second)
	want("1,2,3,4")
	for _, id := range ids {
		if st := get(t, f.store, id); st.State != outbox.StatePending || st.Attempts != 0 {
			t.Fatalf("the store changed although it records no outcome: %+v", st)
		}
	}
	if errs := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); errs != n {
		t.Errorf("%d error lines for %d events whose outcome could not be recorded; want one per event:\n%v", errs, n, logs.All())
	}

	// Recording again: the next delivery is recorded, with the attempts made meanwhile.
	st.failing.Store(false)
	f.clock.Advance(4 * time.Second)
	f.disp.Kick()
	for _, id := range ids {
		eventually(t, "delivery recorded", func() bool { return get(t, f.store, id).State == outbox.StateDelivered })
		if st := get(t, f.store, id); st.Attempts != 5 {
			t.Errorf("delivered event records %d attempts, want 5", st.Attempts)
		}
	}
}

// A forward's MaxInFlight bounds the synchronous first attempts and Run together: with both
// slots taken by DeliverNow, a third DeliverNow makes no attempt and leaves its event due at
// once, uncounted, and Run delivers it when a slot frees, never more than two at a time.
func TestForwardMaxInFlight(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	f.route.MaxInFlight = 2
	block := make(chan struct{})
	f.app.setBlock(block)
	evs := []*outbox.Event{f.add(t, "a", 0), f.add(t, "b", 0), f.add(t, "c", 0)}
	res := make(chan Attempt, 2)
	for _, ev := range evs[:2] {
		go func() { res <- f.disp.DeliverNow(context.Background(), ev) }()
	}
	eventually(t, "two deliveries in flight", func() bool { return f.app.running.Load() == 2 })

	if a := f.deliverNow(context.Background(), evs[2]); a.OK || !strings.Contains(a.Err, "max_in_flight") {
		t.Fatalf("DeliverNow with the forward full: %+v, want no attempt", a)
	}
	if st := get(t, f.store, evs[2].ID); st.State != outbox.StatePending || st.Attempts != 0 || st.NextAttempt.After(f.clock.Now()) {
		t.Fatalf("the event left to Run: %+v, want pending, due now, no attempt counted", st)
	}
	f.run(t)
	time.Sleep(50 * time.Millisecond) // Run polls; it may not start a third delivery
	if r := f.app.running.Load(); r != 2 {
		t.Fatalf("%d deliveries in flight, max_in_flight is 2", r)
	}
	close(block)
	for range 2 {
		if a := <-res; !a.OK {
			t.Fatal(a)
		}
	}
	eventually(t, "all delivered", func() bool {
		c, _ := f.store.Counts(context.Background())
		return c[outbox.StateDelivered] == 3
	})
	if m := f.app.maxRun.Load(); m != 2 {
		t.Fatalf("max concurrency %d, want 2", m)
	}
}

// A paused route gets no deliveries, neither the first attempt nor Run's; its events stay
// pending, due, with no attempt counted, and once resumed (Kick) they are delivered once each.
func TestPausedRoute(t *testing.T) {
	var paused atomic.Bool
	paused.Store(true)
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond, Paused: func(string) bool { return paused.Load() }})
	evs := []*outbox.Event{f.add(t, "a", 0), f.add(t, "b", 0)}
	for _, ev := range evs {
		if a := f.deliverNow(context.Background(), ev); a.OK || !strings.Contains(a.Err, "paused") {
			t.Fatalf("DeliverNow while paused: %+v", a)
		}
	}
	f.run(t)
	time.Sleep(50 * time.Millisecond) // Run polls; it may deliver nothing
	for _, ev := range evs {
		// Run hands the events it passes over back unchanged: the history keeps the one step
		// of the paused first attempt, no made-up retry.
		if st := get(t, f.store, ev.ID); st.State != outbox.StatePending || st.Attempts != 0 || st.NextAttempt.After(f.clock.Now()) || len(st.History) != 1 {
			t.Fatalf("event of a paused route: %+v, want pending, due, no attempt, one history step", st)
		}
	}
	if n := f.app.maxRun.Load(); n != 0 {
		t.Fatalf("the app got deliveries while the route was paused")
	}
	paused.Store(false)
	f.disp.Kick()
	eventually(t, "both delivered", func() bool {
		c, _ := f.store.Counts(context.Background())
		return c[outbox.StateDelivered] == 2
	})
	f.app.mu.Lock()
	defer f.app.mu.Unlock()
	for _, ev := range evs {
		if f.app.ok[ev.ID] != 1 {
			t.Errorf("event delivered %d times, want once", f.app.ok[ev.ID])
		}
	}
}

// addOrdered stores events of the payment key in the order given, received a second apart and
// due at once.
func (f *fixture) addOrdered(t *testing.T, orderKey string, evs ...*outbox.Event) {
	for i, ev := range evs {
		ev.Route, ev.OrderKey = f.route.ID, orderKey
		ev.ReceivedAt = f.clock.Now().Add(time.Duration(i-len(evs)) * time.Second)
		ev.NextAttempt = ev.ReceivedAt
		if added, err := f.store.Add(context.Background(), ev); err != nil || !added {
			t.Fatal(added, err)
		}
	}
}

// Events of one payment go in the order received: a later one waits while the first is
// pending (the store does not let its first attempt go), and goes once the first is dead (a
// head that goes dead releases the rest).
func TestPaymentOrderHeadDeadReleases(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	f.route.MaxAge = time.Minute
	head := testEvent("head")
	head.Route, head.OrderKey, head.ReceivedAt = f.route.ID, "payment:p1", f.clock.Now().Add(-2*time.Minute)
	if added, err := f.store.Add(context.Background(), head); err != nil || !added {
		t.Fatal(added, err)
	}
	f.app.set(500, "")
	next := testEvent("next")
	next.Route, next.OrderKey, next.ReceivedAt = f.route.ID, "payment:p1", f.clock.Now()
	if _, err := f.store.AddDelivering(context.Background(), next, func() {
		t.Errorf("the later event's first attempt went while the payment's first event was pending: %+v", f.disp.DeliverNow(context.Background(), next))
	}); err != nil {
		t.Fatal(err)
	}
	if n := f.app.maxRun.Load(); n != 0 {
		t.Fatal("the app got a delivery while the payment's first event was pending")
	}
	if a := f.deliverNow(context.Background(), head); a.OK {
		t.Fatal(a)
	}
	if st := get(t, f.store, head.ID); st.State != outbox.StateDead {
		t.Fatalf("head after a failure past max_age: %s, want dead", st.State)
	}
	f.app.set(200, "")
	f.run(t)
	eventually(t, "the later event delivered", func() bool { return get(t, f.store, next.ID).State == outbox.StateDelivered })
}

// A backlog of many events of one payment drains in order, Run's slots notwithstanding.
func TestPaymentOrderBacklog(t *testing.T) {
	const n = 60
	f := newFixtureOn(t, nil, zap.NewNop(), DispatcherOptions{PollInterval: 5 * time.Millisecond})
	var evs []*outbox.Event
	var order []string
	for i := range n {
		evs = append(evs, testEvent(fmt.Sprint("e", i)))
		order = append(order, evs[i].ID)
	}
	f.addOrdered(t, "payment:p1", evs...)
	f.run(t)
	var got []string
	eventually(t, "all delivered", func() bool { // OnDelivered runs after the store update
		f.mu.Lock()
		defer f.mu.Unlock()
		got = slices.Clone(f.delivered)
		return len(got) == n
	})
	if fmt.Sprint(got) != fmt.Sprint(order) {
		t.Fatalf("delivered out of order:\n got %v\nwant %v", got, order)
	}
}

// Two events of one payment arrive while the forward is paused, the later one falling due
// first: nothing goes while the pause lasts, and after the resume they reach the app in the
// order received.
func TestPaymentOrderAcrossPause(t *testing.T) {
	var paused atomic.Bool
	paused.Store(true)
	f := newFixture(t, DispatcherOptions{Concurrency: 1, PollInterval: 5 * time.Millisecond, Paused: func(string) bool { return paused.Load() }})
	ctx := context.Background()
	if err := f.store.SetPaused(ctx, []string{f.route.ID}, true); err != nil {
		t.Fatal(err)
	}
	f.run(t) // running before they arrive, as in Caddy: its first look at the store finds nothing
	first, second := testEvent("first"), testEvent("second")
	for i, ev := range []*outbox.Event{first, second} {
		ev.Route, ev.OrderKey, ev.ReceivedAt = f.route.ID, "payment:p1", f.clock.Now().Add(time.Duration(i-2)*time.Second)
		if added, err := f.store.Add(ctx, ev); err != nil || !added {
			t.Fatal(added, err)
		}
	}
	for _, ev := range []*outbox.Event{second, first} { // handed to Run in this order: second falls due first
		if a := f.deliverNow(ctx, ev); a.OK || !strings.Contains(a.Err, "paused") {
			t.Fatalf("DeliverNow while paused: %+v", a)
		}
		f.clock.Advance(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // Run polls; it may deliver nothing
	if n := f.app.maxRun.Load(); n != 0 {
		t.Fatal("the app got deliveries while the forward was paused")
	}
	if err := f.store.SetPaused(ctx, []string{f.route.ID}, false); err != nil {
		t.Fatal(err)
	}
	paused.Store(false)
	f.disp.Kick()
	eventually(t, "both delivered", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.delivered) == 2
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if want := []string{first.ID, second.ID}; fmt.Sprint(f.delivered) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want the order received %v", f.delivered, want)
	}
}

// A forward held back by its rate takes no more of Run's slots than its max_in_flight: another
// forward's event, due after the whole backlog of the slow one, is delivered while that backlog
// drains, not after it. (Before, Run's 16 slots all waited at the slow forward's gate.)
func TestThrottledForwardDoesNotHoldOthers(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	f.route.MaxInFlight, f.route.Rate = 1, 20 // one delivery every 50 ms
	other := newApp(t)
	otherRoute := Route{ID: RouteID("shop", other.srv.URL), Profile: "shop", URL: other.srv.URL, Secrets: []Secret{testSecret(t)}, MaxAge: 24 * time.Hour}
	routes := func(id string) (Route, bool) {
		switch id {
		case f.route.ID:
			return f.route, true
		case otherRoute.ID:
			return otherRoute, true
		}
		return Route{}, false
	}
	var mu sync.Mutex
	var order []string // the route of each delivery, in order
	f.disp = NewDispatcher(f.store, &Forwarder{Timeout: 5 * time.Second}, routes, zaptest.NewLogger(t), DispatcherOptions{
		PollInterval: 5 * time.Millisecond,
		OnDelivered: func(ev *outbox.Event, a Attempt) {
			mu.Lock()
			order = append(order, ev.Route)
			mu.Unlock()
		},
	})
	const backlog = 30
	for i := range backlog {
		ev := testEvent(fmt.Sprint("slow-", i))
		ev.Route = f.route.ID
		ev.ReceivedAt, ev.NextAttempt = f.clock.Now().Add(-time.Hour), f.clock.Now().Add(time.Duration(i-100)*time.Second)
		if _, err := f.store.Add(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	ev := testEvent("other")
	ev.Route = otherRoute.ID
	ev.ReceivedAt, ev.NextAttempt = f.clock.Now().Add(-time.Hour), f.clock.Now().Add(-time.Second) // due after every slow one
	if _, err := f.store.Add(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	eventually(t, "the other forward's event delivered", func() bool {
		other.mu.Lock()
		defer other.mu.Unlock()
		return other.ok[ev.ID] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	slowBefore := 0
	for _, r := range order {
		if r == f.route.ID {
			slowBefore++
		}
	}
	if slowBefore > backlog/3 {
		t.Fatalf("the other forward's event came after %d of the throttled forward's %d deliveries; want it while they drain", slowBefore, backlog)
	}
}

// claimFailingStore fails every Claim while failing is set, counting the calls.
type claimFailingStore struct {
	*sqlstore.Store
	failing atomic.Bool
	calls   atomic.Int32
}

func (s *claimFailingStore) Claim(ctx context.Context, req outbox.ClaimRequest) ([]*outbox.Event, error) {
	s.calls.Add(1)
	if s.failing.Load() {
		return nil, errors.New("disk I/O error")
	}
	return s.Store.Claim(ctx, req)
}

// While the store fails, Run asks it once per backoff step, however often notifications kick
// it, and delivers as soon as a look succeeds again.
func TestClaimFailureBacksOff(t *testing.T) {
	f := newFixture(t, DispatcherOptions{})
	ev := f.addDue(t, "after-outage")
	store := &claimFailingStore{Store: f.store}
	store.failing.Store(true)
	routes := func(id string) (Route, bool) { return f.route, id == f.route.ID }
	// Jitter 0: the waits are exactly 0.5s, 1s, 2s...
	f.disp = NewDispatcher(store, &Forwarder{Timeout: 5 * time.Second}, routes, zaptest.NewLogger(t),
		DispatcherOptions{PollInterval: time.Millisecond, Rand: func() float64 { return 0 }})
	f.run(t)

	// kicks kicks Run as a stream of notifications would, while the clock stands still, and
	// returns how many times the store was asked meanwhile.
	kicks := func() int32 {
		before := store.calls.Load()
		for range 200 {
			f.disp.Kick()
			time.Sleep(time.Millisecond)
		}
		return store.calls.Load() - before
	}
	eventually(t, "the first look", func() bool { return store.calls.Load() >= 1 })
	if n := kicks(); n != 0 {
		t.Fatalf("the failing store was asked %d more times within its first backoff step; want 0", n)
	}
	f.clock.Advance(500 * time.Millisecond)
	eventually(t, "the second look", func() bool { return store.calls.Load() >= 2 })
	if n := kicks(); n != 0 {
		t.Fatalf("the failing store was asked %d more times within its second backoff step; want 0", n)
	}
	store.failing.Store(false)
	f.clock.Advance(time.Second)
	eventually(t, "delivery after the store recovered", func() bool {
		f.app.mu.Lock()
		defer f.app.mu.Unlock()
		return len(f.app.seen[ev.ID]) == 1
	})
}

// Full says when a forward has no slot free, so that the webhook stores a new event for Run
// instead of claiming it for a first attempt that cannot start; a forward never used is not full.
func TestFullAtMaxInFlight(t *testing.T) {
	f := newFixture(t, DispatcherOptions{PollInterval: 5 * time.Millisecond})
	f.route.MaxInFlight = 1
	if f.disp.Full(f.route.ID) {
		t.Fatal("a forward with no delivery yet is full")
	}
	block := make(chan struct{})
	f.app.setBlock(block)
	ev := f.add(t, "a", 0)
	res := make(chan Attempt, 1)
	go func() { res <- f.deliverNow(context.Background(), ev) }()
	eventually(t, "the delivery in flight", func() bool { return f.app.running.Load() == 1 })
	if !f.disp.Full(f.route.ID) {
		t.Fatal("a forward with max_in_flight 1 and a delivery in flight is not full")
	}
	close(block)
	if a := <-res; !a.OK {
		t.Fatal(a)
	}
	if f.disp.Full(f.route.ID) {
		t.Fatal("the forward is still full after its delivery ended")
	}
}

// A delivered event makes Run look for due events at once only when an event of its payment
// waits behind it (the store's Followed), not after every delivery: at a thousand
// notifications a second, one needless look per notification took a tenth of caddy's CPU.
func TestDeliveryKicksRunOnlyForWaitingEvent(t *testing.T) {
	f := newFixture(t, DispatcherOptions{})
	store := &claimFailingStore{Store: f.store} // counts the looks
	routes := func(id string) (Route, bool) { return f.route, id == f.route.ID }
	f.disp = NewDispatcher(store, &Forwarder{Timeout: 5 * time.Second}, routes, zaptest.NewLogger(t),
		DispatcherOptions{PollInterval: time.Hour})
	f.run(t)
	eventually(t, "Run's first look", func() bool { return store.calls.Load() == 1 })

	alone := testEvent("alone")
	alone.Route, alone.OrderKey = f.route.ID, "payment:p1"
	if _, err := f.store.AddDelivering(context.Background(), alone, func() { f.deliverNow(context.Background(), alone) }); err != nil {
		t.Fatal(err)
	}
	if st := get(t, f.store, alone.ID).State; st != outbox.StateDelivered {
		t.Fatalf("the payment's only event is %s; want it delivered", st)
	}
	time.Sleep(200 * time.Millisecond) // a kick would have Run look within a few milliseconds
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("Run looked for due events %d times after a delivery nothing waited behind; want no look", n-1)
	}

	head, next := testEvent("head"), testEvent("next")
	head.Route, head.OrderKey = f.route.ID, "payment:p2"
	if _, err := f.store.Add(context.Background(), head); err != nil { // not due: its first attempt's grace
		t.Fatal(err)
	}
	next.Route, next.OrderKey = f.route.ID, "payment:p2"
	if _, err := f.store.AddDelivering(context.Background(), next, func() { t.Error("the later event went before the first") }); err != nil {
		t.Fatal(err)
	}
	if a := f.deliverNow(context.Background(), head); !a.OK {
		t.Fatal(a)
	}
	// Only the kick can deliver it: Run's next poll is an hour away.
	eventually(t, "the waiting event delivered", func() bool { return get(t, f.store, next.ID).State == outbox.StateDelivered })
}

// While Run delivers its forward's max_in_flight of events, the kicks of the notifications stored
// for it meanwhile do not make it look for due events (it could start none): the end of one of its
// deliveries does, and so does the poll.
func TestKicksAtMaxInFlightDoNotClaim(t *testing.T) {
	f := newFixture(t, DispatcherOptions{})
	f.route.MaxInFlight = 1
	store := &claimFailingStore{Store: f.store} // counts the looks
	routes := func(id string) (Route, bool) { return f.route, id == f.route.ID }
	f.disp = NewDispatcher(store, &Forwarder{Timeout: 5 * time.Second}, routes, zaptest.NewLogger(t),
		DispatcherOptions{PollInterval: time.Hour, RouteIDs: func() []string { return []string{f.route.ID} }})
	block := make(chan struct{})
	f.app.setBlock(block)
	first, second := f.addDue(t, "first"), f.addDue(t, "second")
	f.run(t)
	eventually(t, "Run's delivery in flight", func() bool { return f.app.running.Load() == 1 })
	looks := store.calls.Load()
	for range 100 {
		f.disp.Kick()
		time.Sleep(time.Millisecond)
	}
	if n := store.calls.Load() - looks; n != 0 {
		t.Fatalf("Run looked for due events %d times at its forward's max_in_flight; want none", n)
	}
	close(block)
	// The end of the first delivery kicks Run, which claims the second (the poll is an hour away).
	for _, ev := range []*outbox.Event{first, second} {
		eventually(t, ev.ID+" delivered", func() bool { return get(t, f.store, ev.ID).State == outbox.StateDelivered })
	}
}
