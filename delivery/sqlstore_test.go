package delivery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// orderedApp records the webhook-ids it answers 2xx, in order, and fails the first attempt of
// the ids in failOnce.
type orderedApp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	failOnce map[string]bool
	got      []string
}

func newOrderedApp(t *testing.T, failOnce ...string) *orderedApp {
	a := &orderedApp{failOnce: map[string]bool{}}
	for _, id := range failOnce {
		a.failOnce[id] = true
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failOnce[id] {
			delete(a.failOnce, id)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		a.got = append(a.got, id)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *orderedApp) delivered() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// The store keeps order and pauses (SQLite here), Run none of its own: a paused forward's
// backlog does not hold up another forward's events, and a payment's refund waits for its
// payment result, which fails once first.
func TestSQLStorePausedBacklogAndOrder(t *testing.T) {
	ctx := context.Background()
	store := teststore.SQLite(t)
	paused, open := newOrderedApp(t), newOrderedApp(t)
	routeA := Route{ID: RouteID("shop", paused.srv.URL), Profile: "shop", URL: paused.srv.URL, Secrets: []Secret{testSecret(t)}, MaxAge: time.Hour}
	routeB := Route{ID: RouteID("shop", open.srv.URL), Profile: "shop", URL: open.srv.URL, Secrets: []Secret{testSecret(t)}, MaxAge: time.Hour}
	routes := func(id string) (Route, bool) {
		switch id {
		case routeA.ID:
			return routeA, true
		case routeB.ID:
			return routeB, true
		}
		return Route{}, false
	}
	if err := store.SetPaused(ctx, []string{routeA.ID}, true); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	add := func(key, route, orderKey string, at time.Time) *outbox.Event {
		ev := testEvent(key)
		ev.Route, ev.OrderKey, ev.ReceivedAt, ev.NextAttempt = route, orderKey, at, at
		if added, err := store.Add(ctx, ev); err != nil || !added {
			t.Fatal(added, err)
		}
		return ev
	}
	for i := range 40 { // due before everything of route B
		add(fmt.Sprint("a", i), routeA.ID, "", base.Add(time.Duration(i)*time.Millisecond))
	}
	pay := add("pay", routeB.ID, "payment:P", base.Add(time.Second))
	refund := add("refund", routeB.ID, "payment:P", base.Add(2*time.Second))
	open.failOnce[pay.ID] = true

	d := NewDispatcher(store, &Forwarder{Timeout: 5 * time.Second}, routes, zaptest.NewLogger(t),
		DispatcherOptions{Concurrency: 2, PollInterval: 20 * time.Millisecond, Rand: func() float64 { return 0 }})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	eventually(t, "the open forward's payment result and refund", func() bool { return len(open.delivered()) == 2 })
	if got := open.delivered(); got[0] != pay.ID || got[1] != refund.ID {
		t.Fatalf("delivered %v; want the payment result, then the refund", got)
	}
	if got := paused.delivered(); len(got) != 0 {
		t.Fatalf("the paused forward got %d events", len(got))
	}
	if b, err := store.Backlogs(ctx); err != nil || b[routeA.ID].Pending != 40 {
		t.Fatalf("Backlogs = %+v, %v; want route A's 40 events pending", b, err)
	}
}
