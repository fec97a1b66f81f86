package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Filter selects events for Search and Redrive. A zero field matches every event.
type Filter struct {
	State  State  // pending, delivered or dead
	Route  string // the forward: its delivery route id (rt_...)
	Source string // SourceNotification or SourceInquiry
	Kind   string // e.g. notifyType
	Type   string // e.g. PAYMENT_RESULT, REFUND_RESULT, CAPTURE_RESULT
	// RequestID is the merchant's id the event carries: a paymentRequestId (the order number),
	// refundRequestId or captureRequestId, whichever the notification is keyed by.
	RequestID string
	// PaymentID is Antom's paymentId in the notification body.
	PaymentID string
	// Since and Until bound ReceivedAt: Since <= ReceivedAt < Until.
	Since, Until time.Time
}

// requestIDParams are the query parameters that name the merchant's request id of an event:
// the order number (paymentRequestId) or a refund's or capture's request id.
var requestIDParams = []string{"requestId", "paymentRequestId", "refundRequestId", "captureRequestId"}

// ParseFilter reads a filter from query parameters, as the admin API and the console take it:
// state, forward (a route id), source, kind, type, requestId (or paymentRequestId,
// refundRequestId, captureRequestId), paymentId, since and until (RFC 3339 times).
func ParseFilter(q url.Values) (Filter, error) {
	f := Filter{
		State: State(q.Get("state")), Route: q.Get("forward"), Source: q.Get("source"),
		Kind: q.Get("kind"), Type: q.Get("type"), PaymentID: q.Get("paymentId"),
	}
	switch f.State {
	case "", StatePending, StateDelivered, StateDead:
	default:
		return f, errors.New("state must be pending, delivered or dead")
	}
	switch f.Source {
	case "", SourceNotification, SourceInquiry:
	default:
		return f, errors.New("source must be notification or inquiry")
	}
	for _, name := range requestIDParams {
		if v := q.Get(name); v != "" {
			if f.RequestID != "" && f.RequestID != v {
				return f, errors.New("give one request id (requestId, paymentRequestId, refundRequestId or captureRequestId)")
			}
			f.RequestID = v
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := q.Get(t.name); s != "" {
			v, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, fmt.Errorf("%s must be an RFC 3339 time such as 2026-05-01T12:00:00Z, not %q", t.name, s)
			}
			*t.dst = v
		}
	}
	return f, nil
}

// searchKey is what a search selects and orders by: the fields of an event that never change
// after Add (its state aside).
type searchKey struct {
	receivedAt                                     time.Time // truncated to microseconds
	route, source, kind, typ, requestID, paymentID string
}

func searchKeyOf(ev *Event) searchKey {
	return searchKey{ev.ReceivedAt.Truncate(time.Microsecond), ev.Route, ev.Source, ev.Kind, ev.Type, ev.RequestID, ev.PaymentID()}
}

// match reports whether an event in state st with key k passes f.
func (f Filter) match(st State, k searchKey) bool {
	return (f.State == "" || st == f.State) &&
		(f.Route == "" || k.route == f.Route) &&
		(f.Source == "" || k.source == f.Source) &&
		(f.Kind == "" || k.kind == f.Kind) &&
		(f.Type == "" || k.typ == f.Type) &&
		(f.RequestID == "" || k.requestID == f.RequestID) &&
		(f.PaymentID == "" || k.paymentID == f.PaymentID) &&
		(f.Since.IsZero() || !k.receivedAt.Before(f.Since.Truncate(time.Microsecond))) &&
		(f.Until.IsZero() || k.receivedAt.Before(f.Until.Truncate(time.Microsecond)))
}

// PaymentID is Antom's top-level paymentId in the body, if it has one.
func (e *Event) PaymentID() string {
	var v struct {
		PaymentID string `json:"paymentId"`
	}
	_ = json.Unmarshal(e.Body, &v)
	return v.PaymentID
}

// Cursor is where a page of search results ends: results continue with the events received
// before At, or at At with an ID below ID (newest first). Times count in whole microseconds,
// the precision PostgreSQL keeps.
type Cursor struct {
	At time.Time
	ID string
}

// CursorAfter returns the cursor that continues after ev.
func CursorAfter(ev *Event) Cursor {
	return Cursor{At: ev.ReceivedAt.Truncate(time.Microsecond), ID: ev.ID}
}

// admits reports whether the event id received at (in microseconds) comes after the cursor in
// newest-first order.
func (c Cursor) admits(at time.Time, id string) bool {
	return c.ID == "" || at.Before(c.At) || (at.Equal(c.At) && id < c.ID)
}

// String is the cursor's opaque text form ("" for the first page).
func (c Cursor) String() string {
	if c.ID == "" {
		return ""
	}
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "." + c.ID
}

// ParseCursor reads a cursor that String wrote.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	micros, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !ValidEventID(id) {
		return Cursor{}, fmt.Errorf("cursor %q is not one a search returned; pass the next value of the previous page as it is", s)
	}
	return Cursor{At: time.UnixMicro(n).UTC(), ID: id}, nil
}

// SortNewestFirst orders evs as Search returns them: newest ReceivedAt first, then by ID
// descending.
func SortNewestFirst(evs []*Event) {
	sort.Slice(evs, func(i, j int) bool {
		a, b := evs[i].ReceivedAt.Truncate(time.Microsecond), evs[j].ReceivedAt.Truncate(time.Microsecond)
		if !a.Equal(b) {
			return a.After(b)
		}
		return evs[i].ID > evs[j].ID
	})
}

// Page cuts a page of at most limit events from evs (sorted newest first, all after the
// cursor) and returns it with the cursor of the next page (zero when there is none).
func Page(evs []*Event, limit int) ([]*Event, Cursor) {
	if limit <= 0 || len(evs) <= limit {
		return evs, Cursor{}
	}
	return evs[:limit], CursorAfter(evs[limit-1])
}

// Search returns up to limit events that match f, newest first, starting after cursor, and
// the cursor of the next page.
//
// The Store keeps an in-memory index of the fields searches select on, which never change after
// Add: each search lists the three state folders (which says every event's state, also for
// events other instances wrote), reads only the events it has not indexed yet (the first search
// after a start reads them all), and then only the events of the page.
func (s *Store) Search(ctx context.Context, f Filter, cursor Cursor, limit int) ([]*Event, Cursor, error) {
	var hits []hit
	err := s.eachIndexed(ctx, []State{StatePending, StateDelivered, StateDead}, func(id string, st State, k searchKey) {
		if f.match(st, k) && cursor.admits(k.receivedAt, id) {
			hits = append(hits, hit{id, st, k.receivedAt})
		}
	})
	if err != nil {
		return nil, Cursor{}, err
	}
	// Only the page's events are read: sorting the newest few hits is enough, unless events
	// moved away meanwhile leave the page short.
	if limit > 0 && len(hits) > 4*(limit+1) {
		if out, err := s.loadHits(ctx, newest(hits, 2*(limit+1)), limit); err != nil || len(out) > limit {
			page, next := Page(out, limit)
			return page, next, err
		}
	}
	slices.SortFunc(hits, hit.newerFirst)
	out, err := s.loadHits(ctx, hits, limit)
	if err != nil {
		return nil, Cursor{}, err
	}
	page, next := Page(out, limit)
	return page, next, nil
}

// hit is an event a search found in the index.
type hit struct {
	id string
	st State
	at time.Time
}

func (a hit) newerFirst(b hit) int {
	if c := b.at.Compare(a.at); c != 0 {
		return c
	}
	return strings.Compare(b.id, a.id)
}

// newest returns the n newest hits, newest first, without sorting them all.
func newest(hits []hit, n int) []hit {
	top := make([]hit, 0, n+1) // sorted newest first
	for _, h := range hits {
		if len(top) == n && h.newerFirst(top[n-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(top, h, hit.newerFirst)
		top = slices.Insert(top, i, h)
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// loadHits reads the events of hits (sorted newest first) that are still in the state they were
// found in, up to one more than limit (limit <= 0: all).
func (s *Store) loadHits(ctx context.Context, hits []hit, limit int) ([]*Event, error) {
	var out []*Event
	for _, h := range hits {
		if limit > 0 && len(out) > limit {
			break // one more than the page says whether there is a next one
		}
		ev, err := s.loadEvent(ctx, h.st, h.id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// A copy left behind by an interrupted move is not the event's state.
		if cur, err := s.current(ctx, h.id, ev); err != nil {
			return nil, err
		} else if cur.State == h.st {
			out = append(out, ev)
		}
	}
	return out, nil
}

// eachIndexed calls fn with the search key of every event listed in the folders of states, from
// the index, reading only the events it has not indexed yet. It lists only those folders; an
// indexed event last seen in one of them and not listed there now (moved or pruned) is
// forgotten, and read again should it be listed elsewhere.
func (s *Store) eachIndexed(ctx context.Context, states []State, fn func(id string, st State, k searchKey)) error {
	gen := s.keys.nextGen()
	for _, st := range states {
		ids, err := s.listIDs(ctx, eventsPrefix+"/"+string(st), ValidEventID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			k, ok := s.keys.see(id, st, gen)
			if !ok {
				ev, err := s.loadEvent(ctx, st, id)
				if errors.Is(err, fs.ErrNotExist) {
					continue // moved meanwhile; the next listing sees it in its new state
				}
				if err != nil {
					return err
				}
				k = searchKeyOf(ev)
				s.keys.put(id, k, st, gen)
			}
			fn(id, st, k)
		}
	}
	s.keys.forget(states, gen)
	return nil
}

// Backlogs returns the pending and dead events of every route that has some, and the receipt
// time of its oldest pending event, from the folder listings and the search index: after the
// first search or backlog since a start, it reads no event. An event caught in an interrupted
// move counts in both states, as in Counts.
func (s *Store) Backlogs(ctx context.Context) (map[string]Backlog, error) {
	out := map[string]Backlog{}
	err := s.eachIndexed(ctx, []State{StatePending, StateDead}, func(_ string, st State, k searchKey) {
		out[k.route] = out[k.route].add(st, k.receivedAt)
	})
	return out, err
}

// searchKeys is the Store's index of searchKey by event id, with the state folder each event was
// last listed in.
type searchKeys struct {
	mu  sync.Mutex
	m   map[string]indexed
	gen uint64 // of the last listing
}

type indexed struct {
	key   searchKey
	state State  // the folder it was last listed in
	seen  uint64 // the listing that saw it last
}

// nextGen starts a listing.
func (x *searchKeys) nextGen() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	return x.gen
}

// see returns the key of id, listed in st's folder by listing gen, if it is indexed.
func (x *searchKeys) see(id string, st State, gen uint64) (searchKey, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.m[id]
	if ok {
		e.state, e.seen = st, gen
		x.m[id] = e
	}
	return e.key, ok
}

func (x *searchKeys) put(id string, k searchKey, st State, gen uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]indexed{}
	}
	x.m[id] = indexed{k, st, gen}
}

// forget drops the events last seen in the folders of states that listing gen did not see there.
func (x *searchKeys) forget(states []State, gen uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, e := range x.m {
		if e.seen != gen && slices.Contains(states, e.state) {
			delete(x.m, id)
		}
	}
}
