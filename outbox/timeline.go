package outbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Timeline is everything the store knows about one payment, oldest first. It holds metadata
// only: no notification body.
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
	Status  int       `json:"status,omitempty"` // the app's HTTP status of a delivery outcome
	Detail  string    `json:"detail,omitempty"`
}

// Timeline entry kinds besides the Step kinds.
const (
	EntryAPICall      = "api_call"     // the payment was started through antom_api
	EntryNotification = "notification" // a verified notification was stored
	EntryInquiry      = "inquiry"      // an inquiryPayment result was stored in place of a notification
)

// PaymentTimeline assembles the timeline of the payment with the merchant's requestID (its
// paymentRequestId, the order number) or Antom's paymentID; either may be empty. profiles are
// the antom profiles whose reconciliation records to look up.
func PaymentTimeline(ctx context.Context, s EventStore, profiles []string, requestID, paymentID string) (*Timeline, error) {
	if requestID == "" && paymentID == "" {
		return nil, errors.New("give a paymentRequestId or a paymentId")
	}
	tl := &Timeline{PaymentRequestID: requestID, PaymentID: paymentID, Payments: []*Payment{}, Entries: []Entry{}}
	seen := map[string]bool{}
	var events []*Event
	find := func(f Filter) error {
		evs, _, err := s.Search(ctx, f, Cursor{}, 0)
		for _, ev := range evs {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				events = append(events, ev)
			}
		}
		return err
	}
	if paymentID != "" {
		if err := find(Filter{PaymentID: paymentID}); err != nil {
			return nil, err
		}
		for _, ev := range events {
			if tl.PaymentRequestID == "" && ev.RequestIDField == "paymentRequestId" {
				tl.PaymentRequestID = ev.RequestID
			}
		}
	}
	if tl.PaymentRequestID != "" {
		for _, profile := range profiles {
			p, err := s.GetPayment(ctx, PaymentRecordID(profile, tl.PaymentRequestID))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			tl.Payments = append(tl.Payments, p)
			if tl.PaymentID == "" {
				tl.PaymentID = p.PaymentID
			}
			tl.Entries = append(tl.Entries, Entry{At: p.CreatedAt, What: EntryAPICall,
				Detail: fmt.Sprintf("profile %s, %s %s; %d inquiries, last result %q, final status %q",
					p.Profile, p.Amount.Value, p.Amount.Currency, p.Attempts, p.LastResult, p.FinalStatus)})
		}
		if err := find(Filter{RequestID: tl.PaymentRequestID}); err != nil {
			return nil, err
		}
		for _, ev := range events {
			if tl.PaymentID == "" {
				tl.PaymentID = ev.PaymentID()
			}
		}
	}
	// Events keyed by another request id (a refund's) may still name the payment.
	if paymentID == "" && tl.PaymentID != "" {
		if err := find(Filter{PaymentID: tl.PaymentID}); err != nil {
			return nil, err
		}
	}
	for _, ev := range events {
		what := EntryNotification
		if ev.Source == SourceInquiry {
			what = EntryInquiry
		}
		tl.Entries = append(tl.Entries, Entry{At: ev.ReceivedAt, What: what, EventID: ev.ID, Type: ev.Type,
			Detail: fmt.Sprintf("result %s, %s %s", dash(ev.ResultStatus), ev.RequestIDField, ev.RequestID)})
		for _, st := range ev.History {
			tl.Entries = append(tl.Entries, Entry{At: st.At, What: st.What, EventID: ev.ID, Type: ev.Type, Status: st.Status, Detail: st.Error})
		}
	}
	sort.SliceStable(tl.Entries, func(i, j int) bool { return tl.Entries[i].At.Before(tl.Entries[j].At) })
	return tl, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
