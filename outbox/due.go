package outbox

import (
	"container/heap"
	"context"
	"errors"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"time"
)

// Due returns up to limit pending events whose NextAttempt is not after at,
// earliest NextAttempt first. See DueExcept.
func (s *Store) Due(ctx context.Context, at time.Time, limit int) ([]*Event, error) {
	return s.DueExcept(ctx, at, limit, nil)
}

// DueExcept is Due without the events for which skip returns true (the
// dispatcher skips those it is delivering already); skip is called before
// anything is loaded, under an internal lock, and must not call the Store.
//
// Due answers from an in-memory index of next-attempt times, filled by a
// listing of antom/events/pending on first use and refreshed every
// RescanInterval (that is how events stored by other instances or config
// generations are found), and kept current by this Store's own writes.
// The index is only a hint: each candidate is loaded from storage, and it
// is skipped if storage says it is not due, and its pending copy removed if
// it also exists as delivered or dead.
func (s *Store) DueExcept(ctx context.Context, at time.Time, limit int, skip func(id string) bool) ([]*Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := s.maybeRescan(ctx); err != nil {
		return nil, err
	}
	var out []*Event
	// A few rounds, in case stale index entries eat the first candidates.
	for round := 0; round < 4 && len(out) < limit; round++ {
		cands := s.idx.due(at, limit-len(out), skip, out)
		if len(cands) == 0 {
			break
		}
		for _, id := range cands {
			ev, err := s.dueCandidate(ctx, id, at)
			if err != nil {
				return out, err
			}
			if ev != nil {
				out = append(out, ev)
			}
		}
	}
	return out, nil
}

// Release does nothing: DueExcept hands events out without a claim (one instance, the leader,
// delivers).
func (s *Store) Release(context.Context, *Event) error { return nil }

// dueCandidate loads a pending event that the index says is due; nil if
// storage disagrees (the index is then corrected).
func (s *Store) dueCandidate(ctx context.Context, id string, at time.Time) (*Event, error) {
	ev, err := s.loadEvent(ctx, StatePending, id)
	if errors.Is(err, fs.ErrNotExist) {
		s.idx.del(id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cur, err := s.current(ctx, id, ev); err != nil {
		return nil, err
	} else if cur.State != StatePending {
		// A crash between "write final" and "delete pending", or another
		// instance finishing it: finish the move.
		unlock := idLocks.lock(id)
		defer unlock()
		if cur, err = s.current(ctx, id, nil); err == nil && cur.State != StatePending {
			s.idx.del(id)
			return nil, s.storage.Delete(ctx, eventKey(StatePending, id))
		}
		return nil, err
	}
	if ev.NextAttempt.After(at) {
		s.idx.setIfUnchanged(id, ev.NextAttempt)
		return nil, nil
	}
	return ev, nil
}

func (s *Store) maybeRescan(ctx context.Context) error {
	s.idx.mu.Lock()
	need := !s.idx.loaded || time.Since(s.idx.scannedAt) >= s.rescanInterval()
	s.idx.mu.Unlock()
	if !need {
		return nil
	}
	return s.Rescan(ctx)
}

// Rescan refreshes the due index from storage at once: it lists pending
// events, loads those the index does not know, and forgets ids that are no
// longer pending. Due calls it by itself every RescanInterval.
func (s *Store) Rescan(ctx context.Context) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()

	s.idx.mu.Lock()
	s.idx.gen++
	s.idx.active = true
	startGen := s.idx.gen
	s.idx.mu.Unlock()

	ids, err := s.listIDs(ctx, eventsPrefix+"/"+string(StatePending), ValidEventID)
	if err != nil {
		return err
	}
	listed := make(map[string]struct{}, len(ids))
	var unknown []string
	s.idx.mu.Lock()
	for _, id := range ids {
		listed[id] = struct{}{}
		if _, ok := s.idx.m[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	s.idx.mu.Unlock()

	found := make(map[string]time.Time, len(unknown))
	for _, id := range unknown {
		ev, err := s.loadEvent(ctx, StatePending, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		found[id] = ev.NextAttempt
	}

	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	for id, next := range found {
		if _, ok := s.idx.m[id]; !ok {
			s.idx.m[id] = dueEntry{next: next, gen: startGen}
		}
	}
	// Forget entries that were not listed, unless they were written after
	// the listing started (an Add racing with the scan).
	for id, e := range s.idx.m {
		if _, ok := listed[id]; !ok && e.gen < startGen {
			delete(s.idx.m, id)
		}
	}
	s.idx.loaded = true
	s.idx.scannedAt = time.Now()
	return nil
}

// dueIndex maps pending event ids to their next attempt time.
type dueIndex struct {
	mu        sync.Mutex
	m         map[string]dueEntry
	gen       uint64 // bumped at the start of every scan
	active    bool   // a scan has started: keep the index from now on
	loaded    bool   // a scan has completed
	scannedAt time.Time
}

type dueEntry struct {
	next time.Time
	gen  uint64 // scan generation current when the entry was written
}

// set records a pending event's next attempt. Until the first scan starts
// the index is not kept at all: that scan reads storage anyway, and a Store
// that never calls Due (an instance that is not the leader) must not
// accumulate entries.
func (x *dueIndex) set(id string, next time.Time) {
	x.mu.Lock()
	if x.active {
		x.m[id] = dueEntry{next: next, gen: x.gen}
	}
	x.mu.Unlock()
}

func (x *dueIndex) setIfUnchanged(id string, next time.Time) {
	x.mu.Lock()
	if e, ok := x.m[id]; ok {
		e.next = next
		x.m[id] = e
	}
	x.mu.Unlock()
}

func (x *dueIndex) del(id string) {
	x.mu.Lock()
	delete(x.m, id)
	x.mu.Unlock()
}

// due returns up to limit ids with next <= at, earliest first, leaving out
// those skip rejects and those already in have. It keeps only the limit
// earliest candidates in a heap while it walks the index, so picking the next
// few events of a large backlog costs O(n log limit), not a sort of every due
// entry (a drain of 10,000 events spent 45% of caddy's CPU sorting), and skip
// is asked only about entries that would make it into the heap.
func (x *dueIndex) due(at time.Time, limit int, skip func(string) bool, have []*Event) []string {
	haveSet := make(map[string]struct{}, len(have))
	for _, ev := range have {
		haveSet[ev.ID] = struct{}{}
	}
	h := make(latestFirst, 0, min(limit, 1024))
	x.mu.Lock()
	for id, e := range x.m {
		if e.next.After(at) {
			continue
		}
		c := dueCand{id, e.next}
		if len(h) == limit && !c.before(h[0]) {
			continue
		}
		if _, ok := haveSet[id]; ok {
			continue
		}
		if skip != nil && skip(id) {
			continue
		}
		if len(h) < limit {
			heap.Push(&h, c)
		} else {
			h[0] = c
			heap.Fix(&h, 0)
		}
	}
	x.mu.Unlock()
	sort.Slice(h, func(i, j int) bool { return h[i].before(h[j]) })
	ids := make([]string, len(h))
	for i, c := range h {
		ids[i] = c.id
	}
	return ids
}

type dueCand struct {
	id   string
	next time.Time
}

// before orders candidates by next attempt, then id.
func (c dueCand) before(d dueCand) bool {
	if !c.next.Equal(d.next) {
		return c.next.Before(d.next)
	}
	return c.id < d.id
}

// latestFirst is a heap (container/heap) with the latest candidate on top.
type latestFirst []dueCand

func (h latestFirst) Len() int           { return len(h) }
func (h latestFirst) Less(i, j int) bool { return h[j].before(h[i]) }
func (h latestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *latestFirst) Push(v any)        { *h = append(*h, v.(dueCand)) }
func (h *latestFirst) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// keyedMutex serialises work on one id. It is package-wide so that two
// Stores over the same storage in one process (old and new config during a
// reload) still agree.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

var idLocks = keyedMutex{m: map[string]*keyedEntry{}}

// addLocks serialises the adds of one id, for as long as AddDelivering delivers; separate from
// idLocks, which deliver's own store updates take.
var addLocks = keyedMutex{m: map[string]*keyedEntry{}}

func (k *keyedMutex) lock(id string) (unlock func()) {
	k.mu.Lock()
	e := k.m[id]
	if e == nil {
		e = &keyedEntry{}
		k.m[id] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, id)
		}
		k.mu.Unlock()
	}
}

// Claim hands out the due events req admits (outbox.ClaimRequest), for the single instance that
// delivers from this store (the holder of antom/leader): it has no leases, so Claim is
// DueExcept passing over paused routes, routes without room, and events behind an earlier
// pending one of their route and order key. It lists the pending events to know those: this
// store is kept for moving to the SQL stores (copy-store), not for large backlogs.
func (s *Store) Claim(ctx context.Context, req ClaimRequest) ([]*Event, error) {
	pending, err := s.List(ctx, StatePending, 0) // oldest first
	if err != nil {
		return nil, err
	}
	paused, err := s.PausedRoutes(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*Event, len(pending))
	head := map[string]string{} // route + order key -> its earliest pending event
	for _, ev := range pending {
		byID[ev.ID] = ev
		if k := ev.Route + "\n" + ev.OrderKey; ev.OrderKey != "" && head[k] == "" {
			head[k] = ev.ID
		}
	}
	room := map[string]int{}
	skip := func(id string) bool {
		ev, ok := byID[id]
		if !ok {
			return true // not pending when listed: DueExcept loads it again next time
		}
		if slices.Contains(paused, ev.Route) || (ev.OrderKey != "" && head[ev.Route+"\n"+ev.OrderKey] != id) {
			return true
		}
		n, seen := room[ev.Route]
		if !seen {
			n = req.Others
			if free, named := req.Free[ev.Route]; named {
				n = free
			}
		}
		if n <= 0 {
			return true
		}
		room[ev.Route] = n - 1
		return false
	}
	at := now()
	if s.Clock != nil {
		at = s.Clock()
	}
	return s.DueExcept(ctx, at, req.Limit, skip)
}
