package caddyantom

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// flakyStore fails the first failures AddActivity calls, then stores.
type flakyStore struct {
	outbox.EventStore
	mu       sync.Mutex
	failures int
	calls    int
}

func (f *flakyStore) AddActivity(ctx context.Context, a *outbox.Activity) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.failures
	f.mu.Unlock()
	if fail {
		return errors.New("storage down")
	}
	return f.EventStore.AddActivity(ctx, a)
}

func named(id string) *outbox.Activity {
	a := outbox.NewActivity(outbox.ActivityAPICall, time.Now())
	a.Name("paymentRequestId", id)
	return a
}

func dropped(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := activityDropped.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func stored(t *testing.T, s outbox.EventStore, id string) int {
	t.Helper()
	acts, err := s.Activities(context.Background(), "paymentRequestId", id)
	if err != nil {
		t.Fatal(err)
	}
	return len(acts)
}

// Recording never waits: beyond the queue's bound, activities are dropped and counted; one
// naming no id is not even queued.
func TestActivityRecorderDropsWhenFull(t *testing.T) {
	r := newActivityRecorder(teststore.SQLite(t), zaptest.NewLogger(t))
	r.record(outbox.NewActivity(outbox.ActivityRejected, time.Now()))
	if len(r.queue) != 0 {
		t.Fatal("an activity naming no id was queued")
	}
	before := dropped(t)
	for range activityQueueSize + 5 {
		r.record(named("req-full")) // no writer runs: the queue fills
	}
	if got := dropped(t) - before; got != 5 || len(r.queue) != activityQueueSize {
		t.Fatalf("dropped %v with %d queued; want 5 dropped, the queue full", got, len(r.queue))
	}
}

// Records of rejected notifications, which anyone can send, are admitted at most
// unverifiedPerSecond (after a burst of twice that): a flood of forged notifications is neither
// read nor written to the disk the real ones are written to.
func TestActivityRecorderCapsUnverified(t *testing.T) {
	r := newActivityRecorder(teststore.SQLite(t), zaptest.NewLogger(t))
	admitted := 0
	for range 1000 {
		if r.admitUnverified() {
			admitted++
		}
	}
	if admitted < 2*unverifiedPerSecond || admitted > 2*unverifiedPerSecond+5 {
		t.Fatalf("%d of 1000 rejected notifications admitted at once; want about %d, the burst", admitted, 2*unverifiedPerSecond)
	}
}

// A failing store is retried until it takes the activity; what is queued when the writer
// stops is written by the drain.
func TestActivityRecorderRetriesAndDrains(t *testing.T) {
	store := &flakyStore{EventStore: teststore.SQLite(t), failures: 2}
	r := newActivityRecorder(store, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	r.record(named("req-retry"))
	deadline := time.Now().Add(30 * time.Second)
	for stored(t, store, "req-retry") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the activity was not stored after the store recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	r = newActivityRecorder(store, zaptest.NewLogger(t))
	for range 3 {
		r.record(named("req-drain"))
	}
	stopped, stop := context.WithCancel(context.Background())
	stop()
	r.run(stopped) // stops at once, draining the queue
	if n := stored(t, store, "req-drain"); n != 3 || len(r.queue) != 0 {
		t.Fatalf("the drain stored %d of 3, left %d queued", n, len(r.queue))
	}
	before := dropped(t)
	r.record(named("req-late"))
	if len(r.queue) != 0 || dropped(t)-before != 1 {
		t.Fatal("a stopped writer's recorder queued an activity nobody writes, or did not count it dropped")
	}
}

// barrierStore holds every AddActivity until want of them are under way at once.
type barrierStore struct {
	outbox.EventStore
	want    int
	mu      sync.Mutex
	waiting int
	all     chan struct{}
}

func (b *barrierStore) AddActivity(ctx context.Context, a *outbox.Activity) error {
	b.mu.Lock()
	if b.waiting++; b.waiting == b.want {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return b.EventStore.AddActivity(ctx, a)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The records waiting together are handed to the store together, so that a store committing
// the writes waiting together (sqlstore) makes them durable in one commit, not one each: a
// writer that wrote them one after the other would never get past the first here.
func TestActivityRecorderWritesWaitingRecordsTogether(t *testing.T) {
	const n = 8
	store := &barrierStore{EventStore: teststore.SQLite(t), want: n, all: make(chan struct{})}
	r := newActivityRecorder(store, zaptest.NewLogger(t))
	for range n {
		r.record(named("req-together"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	select {
	case <-store.all:
	case <-time.After(activityWriteTimeout):
		store.mu.Lock()
		defer store.mu.Unlock()
		t.Fatalf("the writer had %d of %d queued records under way at once", store.waiting, n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for stored(t, store, "req-together") < n {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d", stored(t, store, "req-together"), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
