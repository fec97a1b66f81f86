package outbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Timeline is everything the store knows about one payment, oldest first. It holds metadata
// only: no notification or API body.
type Timeline struct {
	PaymentRequestID string     `json:"paymentRequestId,omitempty"`
	PaymentID        string     `json:"paymentId,omitempty"`
	Payments         []*Payment `json:"payments"` // its reconciliation records (one per profile that started it)
	Entries          []Entry    `json:"entries"`
}

// Entry is one line of a Timeline.
type Entry struct {
	At      time.Time `json:"at"`
	What    string    `json:"what"`
	EventID string    `json:"eventId,omitempty"`
	Type    string    `json:"type,omitempty"`
	Profile string    `json:"profile,omitempty"`
	API     string    `json:"api,omitempty"` // the Antom API of a call, e.g. v1/payments/refund
	// IDs are the ids an activity names (see Activity.IDs); Unverified: claimed by a
	// notification whose signature did not verify.
	IDs        map[string]string `json:"ids,omitempty"`
	Unverified bool              `json:"unverified,omitempty"`
	// Status is an HTTP status: the app's answer to a delivery attempt, antom_api's answer to
	// the app, Antom's answer to an inquiry, or the one a rejected notification got.
	Status int    `json:"status,omitempty"`
	Result string `json:"result,omitempty"` // Antom's result, or why a notification was rejected
	// LatencyMs is how long a delivery attempt or API call took, in milliseconds.
	LatencyMs float64 `json:"latencyMs,omitempty"`
	Detail    string  `json:"detail,omitempty"`
	Remote    string  `json:"remote,omitempty"` // the sender of a rejected notification
}

// Timeline entry kinds besides the Step and Activity kinds.
const (
	EntryReconcile    = "reconcile"    // the payment's reconciliation record (antom_api with reconcile)
	EntryNotification = "notification" // a verified notification was stored
	EntryInquiry      = "inquiry"      // an inquiryPayment result was stored in place of a notification
)

// maxTimelineLookups bounds the ids a timeline looks up: the payment's own, and those of its
// refunds and captures.
const maxTimelineLookups = 32

// PaymentTimeline assembles the timeline of the payment with the merchant's requestID (its
// paymentRequestId, the order number) or Antom's paymentID; either may be empty. profiles are
// the antom profiles whose reconciliation records to look up. Every id the payment's events,
// records and verified activities name is looked up in turn (a refund's refundRequestId finds
// its inquiryRefund calls); ids that only rejected notifications claim are not followed.
func PaymentTimeline(ctx context.Context, s EventStore, profiles []string, requestID, paymentID string) (*Timeline, error) {
	if requestID == "" && paymentID == "" {
		return nil, errors.New("give a paymentRequestId or a paymentId")
	}
	b := &timelineBuilder{s: s, profiles: profiles, seen: map[string]bool{},
		tl: &Timeline{Payments: []*Payment{}, Entries: []Entry{}}}
	b.want("paymentRequestId", requestID)
	b.want("paymentId", paymentID)
	for i := 0; i < len(b.todo) && i < maxTimelineLookups; i++ {
		if err := b.lookUp(ctx, b.todo[i]); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(b.tl.Entries, func(i, j int) bool { return b.tl.Entries[i].At.Before(b.tl.Entries[j].At) })
	return b.tl, nil
}

// timelineBuilder gathers a Timeline by looking up one id after another.
type timelineBuilder struct {
	s        EventStore
	profiles []string
	tl       *Timeline
	todo     [][2]string     // field, id
	seen     map[string]bool // ids looked up or wanted ("field:id"), events, payments and activities added
}

// want queues the lookup of id in field, once.
func (b *timelineBuilder) want(field, id string) {
	if field == "" || id == "" || b.seen[field+":"+id] {
		return
	}
	b.seen[field+":"+id] = true
	b.todo = append(b.todo, [2]string{field, id})
	switch {
	case field == "paymentRequestId" && b.tl.PaymentRequestID == "":
		b.tl.PaymentRequestID = id
	case field == "paymentId" && b.tl.PaymentID == "":
		b.tl.PaymentID = id
	}
}

// first reports whether key is new, and marks it seen.
func (b *timelineBuilder) first(key string) bool {
	if b.seen[key] {
		return false
	}
	b.seen[key] = true
	return true
}

func (b *timelineBuilder) lookUp(ctx context.Context, ref [2]string) error {
	field, id := ref[0], ref[1]
	var f Filter
	switch {
	case field == "paymentId":
		f.PaymentID = id
	case strings.HasSuffix(field, "RequestId"):
		f.RequestID = id
	}
	if f != (Filter{}) {
		evs, _, err := b.s.Search(ctx, f, Cursor{}, 0)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if b.first(ev.ID) {
				b.addEvent(ev)
			}
		}
	}
	for _, profile := range b.profiles {
		for _, rid := range recordIDs(field, profile, id) {
			p, err := b.s.GetPayment(ctx, rid)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if b.first(p.ID) {
				b.addPayment(p)
			}
		}
	}
	acts, err := b.s.Activities(ctx, field, id)
	if err != nil {
		return err
	}
	for _, a := range acts {
		if b.first(a.ID) {
			b.addActivity(a)
		}
	}
	return nil
}

// recordIDs are the ids of the reconciliation records a request id of field may name.
func recordIDs(field, profile, id string) []string {
	switch field {
	case "paymentRequestId":
		return []string{PaymentRecordID(profile, id), AutoCaptureRecordID(profile, id)}
	case "refundRequestId":
		return []string{RefundRecordID(profile, id)}
	case "captureRequestId":
		return []string{CaptureRecordID(profile, id)}
	}
	return nil
}

func (b *timelineBuilder) addEvent(ev *Event) {
	b.want(ev.RequestIDField, ev.RequestID)
	b.want("paymentId", ev.PaymentID())
	what := EntryNotification
	if ev.Source == SourceInquiry {
		what = EntryInquiry
	}
	b.add(Entry{At: ev.ReceivedAt, What: what, EventID: ev.ID, Type: ev.Type, Profile: ev.Profile, Result: ev.ResultStatus,
		Detail: fmt.Sprintf("%s %s", ev.RequestIDField, ev.RequestID)})
	for _, st := range ev.History {
		b.add(Entry{At: st.At, What: st.What, EventID: ev.ID, Type: ev.Type, Status: st.Status, LatencyMs: millis(st.Latency), Detail: st.Error})
	}
}

func (b *timelineBuilder) addPayment(p *Payment) {
	b.tl.Payments = append(b.tl.Payments, p)
	b.want("paymentId", p.PaymentID)
	b.want("paymentRequestId", p.PaymentRequestID)
	b.want("refundRequestId", p.RefundRequestID)
	b.want("captureRequestId", p.CaptureRequestID)
	what := "payment"
	if p.Kind != RecordPayment {
		what = p.Kind
	}
	b.add(Entry{At: p.CreatedAt, What: EntryReconcile, Profile: p.Profile, Result: p.FinalStatus,
		Detail: fmt.Sprintf("reconciliation of the %s of %s %s: %d inquiries, last result %q, final status %q",
			what, p.Amount.Value, p.Amount.Currency, p.Attempts, p.LastResult, p.FinalStatus)})
}

func (b *timelineBuilder) addActivity(a *Activity) {
	if !a.Unverified {
		for _, field := range ActivityIDFields {
			b.want(field, a.IDs[field])
		}
	}
	b.add(Entry{At: a.At, What: a.What, Profile: a.Profile, API: a.API, IDs: a.IDs, Unverified: a.Unverified,
		Status: a.Status, Result: a.Result, LatencyMs: millis(a.Latency), Detail: a.Detail, Remote: a.Remote})
}

func (b *timelineBuilder) add(e Entry) { b.tl.Entries = append(b.tl.Entries, e) }

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// Describe is the entry's result, detail, ids and sender in one line, for the CLI and the
// console.
func (e Entry) Describe() string {
	var parts []string
	if e.Result != "" {
		parts = append(parts, e.Result)
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	var ids []string
	for _, field := range ActivityIDFields {
		if id := e.IDs[field]; id != "" {
			ids = append(ids, field+" "+id)
		}
	}
	if len(ids) > 0 {
		claimed := ""
		if e.Unverified {
			claimed = "unverified "
		}
		parts = append(parts, claimed+strings.Join(ids, ", "))
	}
	if e.Remote != "" {
		parts = append(parts, "from "+e.Remote)
	}
	return strings.Join(parts, "; ")
}

// Subject is what the entry is about: its event's webhook-id or the API it called.
func (e Entry) Subject() string {
	if e.EventID != "" {
		return e.EventID
	}
	return e.API
}

// Latency is LatencyMs as text ("12.345ms"), "" for none.
func (e Entry) Latency() string {
	if e.LatencyMs == 0 {
		return ""
	}
	return strconv.FormatFloat(e.LatencyMs, 'f', -1, 64) + "ms"
}
