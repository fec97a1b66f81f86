package outbox

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// EventStore is the contract every event store keeps (the Store on Caddy's storage, and the
// PostgreSQL store); outbox/storetest checks it against each. The methods mean what Store's do,
// with these guarantees common to all:
//
//   - Add returns added=true only once the event is durable, and exactly once per id among all
//     writers of the store that deduplicate atomically (Store: per process; PostgreSQL: across
//     instances). AddDelivering is Add with a first delivery attempt (deliver) that runs before
//     it returns, at most once per id among those writers; deliver's MarkDelivered, MarkDead or
//     Reschedule of the event is recorded before AddDelivering returns (Store makes it the
//     event's only write; a store may also write it pending first).
//   - Every state change is one atomic step or, where storage has no transactions, resolves after
//     a crash to either the old or the new state (never none).
//   - DueExcept hands out pending events whose NextAttempt has passed; a store shared by
//     instances that all deliver (see Lead) hands each due event to one of them until its lease
//     ends or its outcome is recorded.
type EventStore interface {
	Add(ctx context.Context, ev *Event) (added bool, err error)
	AddDelivering(ctx context.Context, ev *Event, deliver func()) (added bool, err error)
	Get(ctx context.Context, id string) (*Event, error)
	List(ctx context.Context, state State, limit int) ([]*Event, error)
	Counts(ctx context.Context) (map[State]int, error)
	// Backlogs returns, per route id, the pending and dead events and the receipt time of the
	// oldest pending one, for every route that has pending or dead events, without reading the
	// events' bodies.
	Backlogs(ctx context.Context) (map[string]Backlog, error)
	// Search returns up to limit events matching f (limit <= 0: all), newest first, starting
	// after cursor, and the cursor of the next page (zero: this was the last).
	Search(ctx context.Context, f Filter, cursor Cursor, limit int) ([]*Event, Cursor, error)
	DueExcept(ctx context.Context, at time.Time, limit int, skip func(id string) bool) ([]*Event, error)
	// Release hands back, unchanged, an event DueExcept returned that this instance will not
	// deliver now (its forward is paused or full): a store whose claims are leases ends this
	// instance's claim, so that the event is not held by it until it comes back.
	Release(ctx context.Context, ev *Event) error
	MarkDelivered(ctx context.Context, ev *Event, at time.Time) error
	MarkDead(ctx context.Context, ev *Event, at time.Time, reason string) error
	Reschedule(ctx context.Context, ev *Event, next time.Time, lastErr string, status int) error
	Replay(ctx context.Context, id string) (*Event, error)
	ReplayDead(ctx context.Context) (n int, err error)
	Prune(ctx context.Context, at time.Time, retention time.Duration) (n int, err error)

	AddPayment(ctx context.Context, p *Payment) (added bool, err error)
	GetPayment(ctx context.Context, id string) (*Payment, error)
	CountPayments(ctx context.Context, state State) (int, error)
	ListPayments(ctx context.Context, state State, limit int) ([]*Payment, error)
	DuePayments(ctx context.Context, at time.Time, limit int) ([]*Payment, error)
	UpdatePayment(ctx context.Context, p *Payment) error
	FinishPayment(ctx context.Context, p *Payment, finalStatus string) error

	// PausedRoutes returns the ids of the paused delivery routes (forwards), sorted; SetPaused
	// pauses or resumes routes for every instance of the store, durably before it returns.
	PausedRoutes(ctx context.Context) ([]string, error)
	SetPaused(ctx context.Context, routeIDs []string, paused bool) error
	// AddActivity stores a, found afterwards by each of its IDs (none: it is not stored);
	// Activities returns those naming id in field, oldest first. Prune drops activities older
	// than retention (Store: by whole UTC days).
	AddActivity(ctx context.Context, a *Activity) error
	Activities(ctx context.Context, field, id string) ([]*Activity, error)

	// Lead runs the background workers fn until ctx is cancelled, on as many instances as the
	// store allows: Store runs them on the one instance holding the antom/leader storage lock,
	// a store whose claims are leases runs them on every instance.
	Lead(ctx context.Context, log *zap.Logger, fn func(ctx context.Context))
}

// Backlog is what waits for one forward (route).
type Backlog struct {
	Pending, Dead int
	// OldestPending is when the oldest pending event was received (zero: none is pending).
	OldestPending time.Time
}

// add counts one event in state st received at.
func (b Backlog) add(st State, at time.Time) Backlog {
	switch st {
	case StatePending:
		b.Pending++
		if b.OldestPending.IsZero() || at.Before(b.OldestPending) {
			b.OldestPending = at
		}
	case StateDead:
		b.Dead++
	}
	return b
}

// Lead runs fn while this instance holds the antom/leader lock of the storage (RunAsLeader).
func (s *Store) Lead(ctx context.Context, log *zap.Logger, fn func(ctx context.Context)) {
	storage := s.storage
	if d, ok := storage.(*durableFiles); ok {
		storage = d.FileStorage
	}
	RunAsLeader(ctx, storage, LeaderLock, log, fn)
}

var _ EventStore = (*Store)(nil)
