package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// Storage layout (docs/architecture.md).
const (
	eventsPrefix   = "antom/events"
	paymentsPrefix = "antom/payments"
)

// Defaults.
const (
	// DefaultRetention is how long delivered and dead events (and finished
	// payments) are kept. Deduplication of notifications holds this long;
	// Antom stops retrying after about 24 hours.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultGrace is added to ReceivedAt when Add is given an event without
	// NextAttempt: it reserves time for the synchronous first delivery so
	// the background dispatcher (possibly on another instance) does not
	// deliver the same event in parallel.
	DefaultGrace = 30 * time.Second
	// DefaultRescanInterval is how often Due lists pending events in storage
	// to pick up events written by other instances or config generations.
	DefaultRescanInterval = 10 * time.Second
)

// ErrNotFound is returned (wrapped) when an event or payment does not exist.
// It matches fs.ErrNotExist with errors.Is as well.
var ErrNotFound = fmt.Errorf("outbox: %w", fs.ErrNotExist)

// ErrInvalidID is returned for ids that EventID/PaymentRecordID could not
// have produced; they never reach storage.
var ErrInvalidID = errors.New("outbox: invalid id")

// now is the clock seam for tests.
var now = time.Now

// Store is the durable event and payment store. It is safe for concurrent
// use; several Stores (config generations, Caddy instances) may share one
// storage. Set the exported fields before first use.
type Store struct {
	storage certmagic.Storage

	// Grace is what Add adds to ReceivedAt when the event has no
	// NextAttempt (see DefaultGrace). Zero means DefaultGrace.
	Grace time.Duration
	// Clock is the time Claim finds events due at (nil: the system clock); a store on a
	// database reads the database's instead.
	Clock func() time.Time
	// RescanInterval: see DefaultRescanInterval. Zero means the default.
	RescanInterval time.Duration

	idx    dueIndex
	scanMu sync.Mutex // one Rescan at a time
	// unwritten holds the events AddDelivering is delivering before their first write.
	unwritten sync.Map   // *Event -> struct{}
	keys      searchKeys // Search's index
}

// New returns a Store on storage. It does no I/O. On Caddy's file_system storage
// (certmagic.FileStorage) the Store writes its records durably itself (see durableFiles); other
// storages keep their own guarantees.
func New(storage certmagic.Storage) *Store {
	if files, ok := storage.(*certmagic.FileStorage); ok {
		storage = &durableFiles{FileStorage: files, ops: osFiles{}}
	}
	return &Store{storage: storage, idx: dueIndex{m: map[string]dueEntry{}}}
}

// Storage returns the underlying storage.
func (s *Store) Storage() certmagic.Storage { return s.storage }

func eventKey(state State, id string) string { return eventsPrefix + "/" + string(state) + "/" + id }

// Add persists ev as pending unless an event with the same ID exists in any
// state. It returns added=false for a duplicate. When Add returns added=true
// the event is durably stored (one storage write; on the file system: file
// fsynced, renamed into place, directory fsynced). Concurrent Adds of the same id within this
// process yield exactly one added=true; across instances both may win, and
// the event is then delivered twice with the same webhook-id.
//
// Add fills in a missing ID (EventID(Profile, DedupKey)), ReceivedAt (now)
// and NextAttempt (ReceivedAt + Grace), and sets State to pending. To make
// the event due at once (no synchronous first attempt), set NextAttempt to
// ReceivedAt.
func (s *Store) Add(ctx context.Context, ev *Event) (added bool, err error) {
	return s.AddDelivering(ctx, ev, nil)
}

// AddDelivering is Add for an event the caller delivers before it is stored: it writes the
// event once, in the state its first delivery leaves it in, instead of writing it pending and
// then moving it. A duplicate returns added=false without calling deliver. Otherwise deliver
// (nil: none) runs while ev is not stored yet; the first MarkDelivered, MarkDead or Reschedule
// of ev itself in deliver is the event's first write. If deliver records no outcome, or its
// recording fails, AddDelivering writes ev as pending as Add does. Either way added=true means
// ev is durable; on an error nothing may be acknowledged (a crash during deliver leaves nothing
// stored and nothing acknowledged: the sender retries, the app may see the webhook-id again).
//
// Calls with one id, Add's included, are serialised for the whole delivery, so a concurrent
// duplicate waits for the first one's outcome and is delivered once. deliver must be done with
// ev when it returns.
func (s *Store) AddDelivering(ctx context.Context, ev *Event, deliver func()) (added bool, err error) {
	if err := ev.PrepareAdd(s.grace()); err != nil {
		return false, err
	}
	unlockAdd := addLocks.lock(ev.ID)
	defer unlockAdd()
	for _, st := range []State{StatePending, StateDelivered, StateDead} {
		ok, err := s.exists(ctx, eventKey(st, ev.ID))
		if err != nil {
			return false, err
		}
		if ok {
			return false, nil
		}
	}
	if deliver != nil {
		if s.deliverFirst(ev, deliver) {
			return true, nil // deliver's outcome was the first write
		}
		if ev.State != StatePending { // its recording failed: deliver it again from pending
			ev.State, ev.DeliveredAt, ev.DeadAt = StatePending, time.Time{}, time.Time{}
			ev.NextAttempt = now()
		}
	}

	unlock := idLocks.lock(ev.ID)
	defer unlock()
	if err := s.putEvent(ctx, ev); err != nil {
		return false, err
	}
	s.idx.set(ev.ID, ev.NextAttempt)
	return true, nil
}

// deliverFirst runs deliver on ev before it is stored and reports whether deliver's outcome was
// ev's first write. ev is forgotten even if deliver panics.
func (s *Store) deliverFirst(ev *Event, deliver func()) (written bool) {
	s.unwritten.Store(ev, struct{}{})
	defer func() {
		_, still := s.unwritten.LoadAndDelete(ev)
		written = !still
	}()
	deliver()
	return
}

// firstWrite reports whether ev is in AddDelivering's deliver and not stored yet: then its
// next write is its first, with nothing to move or compare. If that write fails, restore puts
// ev back so AddDelivering writes it pending.
func (s *Store) firstWrite(ev *Event) (first bool, restore func()) {
	_, first = s.unwritten.LoadAndDelete(ev)
	return first, func() { s.unwritten.Store(ev, struct{}{}) }
}

// Get returns the event with id in its current state (see current).
func (s *Store) Get(ctx context.Context, id string) (*Event, error) {
	if !ValidEventID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return s.current(ctx, id, nil)
}

// List returns up to limit events in state, oldest ReceivedAt first
// (limit <= 0: all). It loads every event in the state; meant for the admin
// API, not the hot path.
func (s *Store) List(ctx context.Context, state State, limit int) ([]*Event, error) {
	ids, err := s.listIDs(ctx, eventsPrefix+"/"+string(state), ValidEventID)
	if err != nil {
		return nil, err
	}
	evs := make([]*Event, 0, len(ids))
	for _, id := range ids {
		ev, err := s.loadEvent(ctx, state, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // moved meanwhile
		}
		if err != nil {
			return nil, err
		}
		// A copy left behind by an interrupted move is not the event's state.
		if cur, err := s.current(ctx, id, ev); err != nil {
			return nil, err
		} else if cur.State == state {
			evs = append(evs, ev)
		}
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].ReceivedAt.Equal(evs[j].ReceivedAt) {
			return evs[i].ReceivedAt.Before(evs[j].ReceivedAt)
		}
		return evs[i].ID < evs[j].ID
	})
	if limit > 0 && len(evs) > limit {
		evs = evs[:limit]
	}
	return evs, nil
}

// Counts returns the number of events per state, from listings only (an
// event caught in an interrupted move counts twice). It costs one listing
// per state, so with a large delivered backlog call it every few seconds at
// most.
func (s *Store) Counts(ctx context.Context) (map[State]int, error) {
	out := map[State]int{}
	for _, st := range []State{StatePending, StateDelivered, StateDead} {
		ids, err := s.listIDs(ctx, eventsPrefix+"/"+string(st), ValidEventID)
		if err != nil {
			return nil, err
		}
		out[st] = len(ids)
	}
	return out, nil
}

// MarkDelivered moves ev to delivered, recording at as DeliveredAt. The
// caller has already counted the attempt in ev.Attempts and set LastStatus.
func (s *Store) MarkDelivered(ctx context.Context, ev *Event, at time.Time) error {
	unlock := idLocks.lock(ev.ID)
	defer unlock()
	ev.MarkDelivered(at)
	return s.move(ctx, ev, StatePending)
}

// MarkDead moves ev to dead (gave up), recording at and the reason.
func (s *Store) MarkDead(ctx context.Context, ev *Event, at time.Time, reason string) error {
	unlock := idLocks.lock(ev.ID)
	defer unlock()
	ev.MarkDead(at, reason)
	return s.move(ctx, ev, StatePending)
}

// Reschedule keeps ev pending with a new NextAttempt and the outcome of the
// last attempt (status 0: no HTTP answer). If the event already reached a
// final state (another instance delivered it), the pending copy is removed
// instead and ev is left unchanged.
func (s *Store) Reschedule(ctx context.Context, ev *Event, next time.Time, lastErr string, status int) error {
	unlock := idLocks.lock(ev.ID)
	defer unlock()
	first, restore := s.firstWrite(ev)
	if !first {
		cur, err := s.current(ctx, ev.ID, ev)
		if err != nil {
			return err
		}
		if cur.State != StatePending {
			s.idx.del(ev.ID)
			return s.storage.Delete(ctx, eventKey(StatePending, ev.ID))
		}
	}
	ev.Reschedule(now(), next, lastErr, status)
	if err := s.putEvent(ctx, ev); err != nil {
		if first {
			restore()
		}
		return err
	}
	s.idx.set(ev.ID, next)
	return nil
}

// ErrAlreadyPending is returned (wrapped) by Replay for an event that is pending.
var ErrAlreadyPending = errors.New("event is pending already; nothing to replay")

// Replay moves a dead or delivered event back to pending, due now, with
// its attempts reset. It returns the replayed event.
//
// Writing the pending copy is the one step that replays: its ReplayedAt is
// later than the final copy's time, so it outranks that copy (see current)
// whether or not the final copy's deletion afterwards happens or survives
// a crash. A crash before that write leaves the event visibly not replayed.
func (s *Store) Replay(ctx context.Context, id string) (*Event, error) {
	if !ValidEventID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	unlock := idLocks.lock(id)
	defer unlock()
	ev, err := s.current(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	if ev.State == StatePending {
		return nil, fmt.Errorf("event %s: %w", id, ErrAlreadyPending)
	}
	t := ev.PrepareReplay(now())
	if err := s.putEvent(ctx, ev); err != nil {
		return nil, err
	}
	s.idx.set(id, t)
	// Tidying only: the pending copy outranks these, and Prune removes what is left.
	for _, old := range []State{StateDead, StateDelivered} {
		_ = s.storage.Delete(ctx, eventKey(old, id))
	}
	return ev, nil
}

// PrepareReplay turns a delivered or dead event into the pending event its replay at t makes:
// due at once, attempts reset. It returns the replay time, which is after the final state's
// time even if the clock is behind it (the replayed copy must outrank the final one).
func (ev *Event) PrepareReplay(t time.Time) time.Time {
	if final := ev.StateTime(); !t.After(final) {
		t = final.Add(time.Millisecond)
	}
	ev.State = StatePending
	ev.Attempts = 0
	ev.NextAttempt = t
	ev.ReplayedAt = t
	ev.LastError = ""
	ev.LastStatus = 0
	ev.DeliveredAt = time.Time{}
	ev.DeadAt = time.Time{}
	ev.Record(Step{At: t, What: StepReplayed})
	return t
}

// MarkDelivered is what every store's MarkDelivered does to ev: delivered at at (the caller
// set LastStatus).
func (ev *Event) MarkDelivered(at time.Time) {
	ev.State = StateDelivered
	ev.DeliveredAt = at
	ev.NextAttempt = time.Time{}
	ev.LastError = ""
	ev.Record(Step{At: at, What: StepDelivered, Status: ev.LastStatus, Latency: ev.LastLatency})
}

// MarkDead is what every store's MarkDead does to ev: given up at at, for reason.
func (ev *Event) MarkDead(at time.Time, reason string) {
	ev.State = StateDead
	ev.DeadAt = at
	ev.NextAttempt = time.Time{}
	if reason != "" {
		ev.LastError = reason
	}
	ev.Record(Step{At: at, What: StepDead, Status: ev.LastStatus, Error: ev.LastError, Latency: ev.LastLatency})
}

// Reschedule is what every store's Reschedule does to ev: the attempt that ended at at failed
// with lastErr and status (0: no HTTP answer); the next one is at next.
func (ev *Event) Reschedule(at, next time.Time, lastErr string, status int) {
	ev.State = StatePending
	ev.NextAttempt = next
	ev.LastError = lastErr
	ev.LastStatus = status
	ev.Record(Step{At: at, What: StepRetry, Status: status, Error: lastErr, Latency: ev.LastLatency})
}

// ReplayDead replays every dead event and returns how many it replayed.
func (s *Store) ReplayDead(ctx context.Context) (n int, err error) {
	dead, err := s.List(ctx, StateDead, 0)
	if err != nil {
		return 0, err
	}
	for _, ev := range dead {
		if _, err := s.Replay(ctx, ev.ID); err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrAlreadyPending) {
				continue // replayed or pruned meanwhile
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// Prune deletes delivered and dead events, and finished payments, that
// reached their final state more than retention before now (retention <= 0:
// DefaultRetention), and the activities of the days that ended before then. It
// also removes temporary files that crashed writers left in the outbox folders.
// It returns how many events and payments it deleted.
func (s *Store) Prune(ctx context.Context, at time.Time, retention time.Duration) (n int, err error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	cutoff := at.Add(-retention)
	for _, st := range []State{StateDelivered, StateDead} {
		dir := eventsPrefix + "/" + string(st)
		ids, err := s.listIDs(ctx, dir, ValidEventID)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			ev, err := s.loadEvent(ctx, st, id)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return n, err
			}
			t := ev.DeliveredAt
			if st == StateDead {
				t = ev.DeadAt
			}
			if t.IsZero() {
				t = ev.ReceivedAt
			}
			if t.Before(cutoff) {
				if err := s.storage.Delete(ctx, eventKey(st, id)); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	m, err := s.prunePayments(ctx, cutoff)
	n += m
	if err != nil {
		return n, err
	}
	if err := s.pruneActivities(ctx, cutoff); err != nil {
		return n, err
	}
	s.pruneTemp(ctx, at)
	return n, nil
}

// move writes ev under its (new) state, then deletes it from the old state
// (none if this is ev's first write, see AddDelivering). Callers hold the id lock.
func (s *Store) move(ctx context.Context, ev *Event, from State) error {
	first, restore := s.firstWrite(ev)
	if err := s.putEvent(ctx, ev); err != nil {
		if first {
			restore()
		}
		return err
	}
	s.idx.del(ev.ID)
	if !first && from != ev.State {
		return s.storage.Delete(ctx, eventKey(from, ev.ID))
	}
	return nil
}

// current returns the copy of event id that is its state. A move between
// states writes the new copy before it deletes the old one, so a crash, or
// a deletion lost in a power cut, can leave copies in several states. The
// copy with the latest StateTime wins; a final copy wins a tie (a pending
// copy that was never replayed loses to any final one). have, if not nil,
// stands for the stored copy in its state. ErrNotFound if there is none.
func (s *Store) current(ctx context.Context, id string, have *Event) (*Event, error) {
	// A move writes the new copy before it deletes the old one, but a reader can look for the
	// new copy just before it is written and for the old one just after it is deleted: finding
	// none, it looks once more.
	for range 2 {
		var best *Event
		for _, st := range []State{StateDelivered, StateDead, StatePending} {
			ev := have
			if have == nil || have.State != st {
				var err error
				ev, err = s.loadEvent(ctx, st, id)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, err
				}
			}
			if best == nil || ev.StateTime().After(best.StateTime()) {
				best = ev
			}
		}
		if best != nil {
			return best, nil
		}
	}
	return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
}

func (s *Store) putEvent(ctx context.Context, ev *Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return s.storage.Store(ctx, eventKey(ev.State, ev.ID), b)
}

func (s *Store) loadEvent(ctx context.Context, st State, id string) (*Event, error) {
	b, err := s.storage.Load(ctx, eventKey(st, id))
	if err != nil {
		return nil, err
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", eventKey(st, id), err)
	}
	ev.State = st // the folder is the truth
	return &ev, nil
}

// exists reports whether key exists. Unlike Storage.Exists it returns
// errors other than "not found": treating an unreadable key as present
// would make Add drop a notification as a duplicate.
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.storage.Stat(ctx, key)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// listIDs lists the record ids directly under dir; keys that are not ids
// (e.g. FileStorage's temporary files) are skipped.
func (s *Store) listIDs(ctx context.Context, dir string, valid func(string) bool) ([]string, error) {
	names, err := s.listNames(ctx, dir)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(names))
	for _, name := range names {
		if valid(name) {
			ids = append(ids, name)
		}
	}
	return ids, nil
}

// listNames returns the base names of the keys directly in dir; a missing dir is empty.
func (s *Store) listNames(ctx context.Context, dir string) ([]string, error) {
	// certmagic's FileStorage.List stats every entry and fails as a whole with "not exist" when
	// one is renamed or deleted during the walk, which is constant under load. Reading the
	// directory itself neither stats entries nor races with moves.
	// Names only, unsorted: a folder may hold a million events.
	if fsStorage, ok := s.storage.(*durableFiles); ok {
		f, err := os.Open(fsStorage.Filename(dir))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var keys []string
		keys, err = s.storage.List(ctx, dir, false)
		if err == nil {
			names := make([]string, len(keys))
			for i, k := range keys {
				names[i] = path.Base(k)
			}
			return names, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if !s.storage.Exists(ctx, dir) {
			return nil, nil
		}
		// The dir exists: an entry vanished during the listing; list again.
	}
	return nil, err
}

// pruneTemp removes non-record keys older than an hour from the outbox
// folders: FileStorage writes a temporary file next to the target and a
// SIGKILL during a write leaves it behind. Errors are ignored (best effort).
func (s *Store) pruneTemp(ctx context.Context, at time.Time) {
	dirs := []string{
		eventsPrefix + "/pending", eventsPrefix + "/delivered", eventsPrefix + "/dead",
		paymentsPrefix + "/pending", paymentsPrefix + "/done",
	}
	for _, dir := range dirs {
		names, err := s.listNames(ctx, dir)
		if err != nil {
			continue
		}
		for _, id := range names {
			if ValidEventID(id) || ValidPaymentRecordID(id) {
				continue
			}
			k := dir + "/" + id
			info, err := s.storage.Stat(ctx, k)
			if err != nil || !info.IsTerminal || info.Modified.IsZero() || at.Sub(info.Modified) < time.Hour {
				continue
			}
			_ = s.storage.Delete(ctx, k)
		}
	}
}

func (s *Store) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultGrace
}

func (s *Store) rescanInterval() time.Duration {
	if s.RescanInterval > 0 {
		return s.RescanInterval
	}
	return DefaultRescanInterval
}

var _ EventStore = (*Store)(nil)
