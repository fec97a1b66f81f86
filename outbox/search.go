package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
