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
	type hit struct {
		id string
		st State
		at time.Time
	}
	var hits []hit
	err := s.eachIndexed(ctx, []State{StatePending, StateDelivered, StateDead}, func(id string, st State, k searchKey) {
		if f.match(st, k) && cursor.admits(k.receivedAt, id) {
			hits = append(hits, hit{id, st, k.receivedAt})
		}
	})
	if err != nil {
		return nil, Cursor{}, err
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].at.Equal(hits[j].at) {
			return hits[i].at.After(hits[j].at)
		}
		return hits[i].id > hits[j].id
	})
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
			return nil, Cursor{}, err
		}
		// A copy left behind by an interrupted move is not the event's state.
		if cur, err := s.current(ctx, h.id, ev); err != nil {
			return nil, Cursor{}, err
		} else if cur.State == h.st {
			out = append(out, ev)
		}
	}
	page, next := Page(out, limit)
	return page, next, nil
}

// eachIndexed calls fn with the search key of every event listed in the folders of states, from
// the index, reading only the events it has not indexed yet. It lists all three state folders,
// so the index forgets pruned events.
func (s *Store) eachIndexed(ctx context.Context, states []State, fn func(id string, st State, k searchKey)) error {
	listed := map[string]bool{}
	for _, st := range []State{StatePending, StateDelivered, StateDead} {
		ids, err := s.listIDs(ctx, eventsPrefix+"/"+string(st), ValidEventID)
		if err != nil {
			return err
		}
		wanted := slices.Contains(states, st)
		for _, id := range ids {
			listed[id] = true
			if !wanted {
				continue
			}
			k, ok := s.keys.get(id)
			if !ok {
				ev, err := s.loadEvent(ctx, st, id)
				if errors.Is(err, fs.ErrNotExist) {
					continue // moved meanwhile; the next listing sees it in its new state
				}
				if err != nil {
					return err
				}
				k = searchKeyOf(ev)
				s.keys.put(id, k)
			}
			fn(id, st, k)
		}
	}
	s.keys.keepOnly(listed) // forget pruned events
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

// searchKeys is the Store's index of searchKey by event id.
type searchKeys struct {
	mu sync.Mutex
	m  map[string]searchKey
}

func (x *searchKeys) get(id string) (searchKey, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	k, ok := x.m[id]
	return k, ok
}

func (x *searchKeys) put(id string, k searchKey) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]searchKey{}
	}
	x.m[id] = k
}

func (x *searchKeys) keepOnly(ids map[string]bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.m {
		if !ids[id] {
			delete(x.m, id)
		}
	}
}
