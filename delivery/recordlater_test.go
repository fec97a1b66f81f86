package delivery

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// heldOutcomes is a SQL store whose MarkDelivered waits until release is closed.
type heldOutcomes struct {
	*sqlstore.Store
	release chan struct{}
}

func (s *heldOutcomes) MarkDelivered(ctx context.Context, ev *outbox.Event, at time.Time) error {
	<-s.release
	return s.Store.MarkDelivered(ctx, ev, at)
}

// The first attempt's outcome does not hold AddDelivering (Antom's ack, which
// then waits for the event's insert only): DeliverNow returns once the app answered, the event
// stays claimed so that Run does not deliver it again, and Wait waits for the outcome's write.
func TestDeliverNowRecordsLater(t *testing.T) {
	ctx := context.Background()
	store := &heldOutcomes{Store: teststore.SQLite(t), release: make(chan struct{})}
	app := newOrderedApp(t)
	route := Route{ID: RouteID("shop", app.srv.URL), Profile: "shop", URL: app.srv.URL, Secrets: []Secret{testSecret(t)}, MaxAge: time.Hour}
	routes := func(id string) (Route, bool) { return route, id == route.ID }
	d := NewDispatcher(store, &Forwarder{Timeout: 5 * time.Second}, routes, zaptest.NewLogger(t),
		DispatcherOptions{PollInterval: 10 * time.Millisecond})
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { d.Run(runCtx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	ev := testEvent("later")
	ev.Route = route.ID
	acked := make(chan error, 1)
	go func() {
		_, err := store.AddDelivering(ctx, ev, func() {
			if a := d.DeliverNow(ctx, ev); !a.OK {
				t.Errorf("first attempt: %+v", a)
			}
		})
		acked <- err
	}()
	select {
	case err := <-acked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(store.release)
		t.Fatal("AddDelivering waited for the write of the first attempt's outcome")
	}
	waited := make(chan struct{})
	go func() { d.Wait(); close(waited) }()
	for range 10 { // Run looks for due events meanwhile
		d.Kick()
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-waited:
		t.Fatal("Wait returned before the outcome was written")
	default:
	}
	if got, err := store.Get(ctx, ev.ID); err != nil || got.State != outbox.StatePending {
		t.Fatalf("before its outcome is written the event is %+v, %v; want pending", got, err)
	}
	close(store.release)
	<-waited
	if got, err := store.Get(ctx, ev.ID); err != nil || got.State != outbox.StateDelivered || got.Attempts != 1 {
		t.Fatalf("after Wait the event is %+v, %v; want delivered in one attempt", got, err)
	}
	if got := app.delivered(); len(got) != 1 || got[0] != ev.ID {
		t.Fatalf("the app got %v; want the event once", got)
	}
}
