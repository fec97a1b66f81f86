package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"
)

// StateDone is the state of a payment whose final result is known.
// (Pending payments use StatePending.)
const StateDone State = "done"

// Amount is an Antom amount: a currency code and a value in minor units,
// kept as the string Antom uses.
type Amount struct {
	Currency string `json:"currency"`
	Value    string `json:"value"`
}

// Kinds of reconciliation records (Payment.Kind).
const (
	RecordPayment = ""        // a payment: inquiryPayment until its PAYMENT_RESULT
	RecordRefund  = "refund"  // a refund: inquiryRefund until its REFUND_RESULT
	RecordCapture = "capture" // a capture, asked or automatic: inquiryPayment until its CAPTURE_RESULT
)

// Payment is a payment, refund or capture started through antom_api that is
// under reconciliation: if no final notification arrives, the reconcile loop
// inquires about it until it is final or expired.
type Payment struct {
	// ID is PaymentRecordID(Profile, PaymentRequestID) for a payment, RefundRecordID or
	// CaptureRecordID for a refund or capture, AutoCaptureRecordID for an automatic capture.
	ID      string `json:"id"`
	Kind    string `json:"kind,omitempty"` // RecordPayment, RecordRefund or RecordCapture
	Profile string `json:"profile"`
	// RefundRequestID and RefundID name a refund; CaptureRequestID and CaptureID a capture
	// (an automatic capture has no request id until Antom reports it). PaymentID is the
	// payment they belong to, Amount their own amount.
	RefundRequestID  string    `json:"refundRequestId,omitempty"`
	RefundID         string    `json:"refundId,omitempty"`
	CaptureRequestID string    `json:"captureRequestId,omitempty"`
	CaptureID        string    `json:"captureId,omitempty"`
	PaymentRequestID string    `json:"paymentRequestId"`
	PaymentID        string    `json:"paymentId,omitempty"`
	Amount           Amount    `json:"amount"`
	CreatedAt        time.Time `json:"createdAt"`
	ExpiresAt        time.Time `json:"expiresAt,omitzero"`
	State            State     `json:"state"` // StatePending or StateDone
	Attempts         int       `json:"attempts"`
	NextInquiry      time.Time `json:"nextInquiry,omitzero"`
	LastResult       string    `json:"lastResult,omitempty"`
	FinalStatus      string    `json:"finalStatus,omitempty"` // e.g. SUCCESS, FAIL, CANCELLED, EXPIRED
	Route            string    `json:"route,omitempty"`       // delivery route for the inquiry result event
	TraceParent      string    `json:"traceParent,omitempty"` // of the antom_api call: its inquiries join that trace
}

// PaymentRecordID is the stable id of a payment record: "pay_" followed by
// the first 32 hex digits of sha256(profile + "\n" + paymentRequestID).
func PaymentRecordID(profile, paymentRequestID string) string {
	return hashID("pay_", profile, paymentRequestID)
}

// RefundRecordID is the id of a refund's reconciliation record.
func RefundRecordID(profile, refundRequestID string) string {
	return hashID("pay_", profile, "refund\n"+refundRequestID)
}

// CaptureRecordID is the id of the reconciliation record of a capture asked with
// captureRequestID.
func CaptureRecordID(profile, captureRequestID string) string {
	return hashID("pay_", profile, "capture\n"+captureRequestID)
}

// AutoCaptureRecordID is the id of the reconciliation record of the automatic capture of the
// card payment paymentRequestID.
func AutoCaptureRecordID(profile, paymentRequestID string) string {
	return hashID("pay_", profile, "auto-capture\n"+paymentRequestID)
}

// ValidPaymentRecordID reports whether id has the form PaymentRecordID produces.
func ValidPaymentRecordID(id string) bool { return validHashID("pay_", id) }

func paymentKey(state State, id string) string {
	return paymentsPrefix + "/" + string(state) + "/" + id
}

// AddPayment stores p as pending unless a payment with the same id exists
// (pending or done). It fills in a missing ID and CreatedAt.
func (s *Store) AddPayment(ctx context.Context, p *Payment) (added bool, err error) {
	if err := p.PrepareAdd(); err != nil {
		return false, err
	}
	unlock := idLocks.lock(p.ID)
	defer unlock()
	for _, st := range []State{StatePending, StateDone} {
		ok, err := s.exists(ctx, paymentKey(st, p.ID))
		if err != nil || ok {
			return false, err
		}
	}
	return true, s.putPayment(ctx, p)
}

// PrepareAdd is what every store's AddPayment does first: it fills in a missing ID and
// CreatedAt, sets State to pending, and checks the ID.
func (p *Payment) PrepareAdd() error {
	if p.ID == "" {
		p.ID = PaymentRecordID(p.Profile, p.PaymentRequestID)
	}
	if !ValidPaymentRecordID(p.ID) {
		return fmt.Errorf("%w: %q", ErrInvalidID, p.ID)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	p.State = StatePending
	return nil
}

// GetPayment returns the payment with id, preferring done over pending.
func (s *Store) GetPayment(ctx context.Context, id string) (*Payment, error) {
	if !ValidPaymentRecordID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	for _, st := range []State{StateDone, StatePending} {
		p, err := s.loadPayment(ctx, st, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return p, err
	}
	return nil, fmt.Errorf("payment %s: %w", id, ErrNotFound)
}

// CountPayments returns how many payments are in state, from a listing only (no file is read).
func (s *Store) CountPayments(ctx context.Context, state State) (int, error) {
	ids, err := s.listIDs(ctx, paymentsPrefix+"/"+string(state), ValidPaymentRecordID)
	return len(ids), err
}

// ListPayments returns up to limit payments in state (StatePending or
// StateDone), oldest CreatedAt first (limit <= 0: all).
func (s *Store) ListPayments(ctx context.Context, state State, limit int) ([]*Payment, error) {
	ps, err := s.loadPayments(ctx, state)
	if err != nil {
		return nil, err
	}
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].CreatedAt.Equal(ps[j].CreatedAt) {
			return ps[i].CreatedAt.Before(ps[j].CreatedAt)
		}
		return ps[i].ID < ps[j].ID
	})
	if limit > 0 && len(ps) > limit {
		ps = ps[:limit]
	}
	return ps, nil
}

// DuePayments returns up to limit pending payments whose NextInquiry is not
// after at, earliest first. Payments under reconciliation are few (they
// leave as soon as their notification arrives), so this reads them all.
func (s *Store) DuePayments(ctx context.Context, at time.Time, limit int) ([]*Payment, error) {
	ps, err := s.loadPayments(ctx, StatePending)
	if err != nil {
		return nil, err
	}
	var due []*Payment
	for _, p := range ps {
		if !p.NextInquiry.After(at) {
			if ok, err := s.exists(ctx, paymentKey(StateDone, p.ID)); err != nil {
				return nil, err
			} else if ok {
				_ = s.storage.Delete(ctx, paymentKey(StatePending, p.ID)) // finish an interrupted move
				continue
			}
			due = append(due, p)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].NextInquiry.Before(due[j].NextInquiry) })
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	return due, nil
}

// UpdatePayment rewrites a pending payment (attempts, next inquiry, last
// result). It does nothing if the payment is done already.
func (s *Store) UpdatePayment(ctx context.Context, p *Payment) error {
	unlock := idLocks.lock(p.ID)
	defer unlock()
	if ok, err := s.exists(ctx, paymentKey(StateDone, p.ID)); err != nil || ok {
		return err
	}
	p.State = StatePending
	return s.putPayment(ctx, p)
}

// FinishPayment moves p to done with its final status (write done, then
// delete pending).
func (s *Store) FinishPayment(ctx context.Context, p *Payment, finalStatus string) error {
	unlock := idLocks.lock(p.ID)
	defer unlock()
	p.State = StateDone
	p.FinalStatus = finalStatus
	p.NextInquiry = time.Time{}
	if err := s.putPayment(ctx, p); err != nil {
		return err
	}
	return s.storage.Delete(ctx, paymentKey(StatePending, p.ID))
}

// prunePayments deletes done payments created before cutoff.
func (s *Store) prunePayments(ctx context.Context, cutoff time.Time) (int, error) {
	ps, err := s.loadPayments(ctx, StateDone)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if p.CreatedAt.Before(cutoff) {
			if err := s.storage.Delete(ctx, paymentKey(StateDone, p.ID)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func (s *Store) putPayment(ctx context.Context, p *Payment) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.storage.Store(ctx, paymentKey(p.State, p.ID), b)
}

func (s *Store) loadPayment(ctx context.Context, st State, id string) (*Payment, error) {
	b, err := s.storage.Load(ctx, paymentKey(st, id))
	if err != nil {
		return nil, err
	}
	var p Payment
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", paymentKey(st, id), err)
	}
	p.State = st
	return &p, nil
}

func (s *Store) loadPayments(ctx context.Context, st State) ([]*Payment, error) {
	ids, err := s.listIDs(ctx, paymentsPrefix+"/"+string(st), ValidPaymentRecordID)
	if err != nil {
		return nil, err
	}
	ps := make([]*Payment, 0, len(ids))
	for _, id := range ids {
		p, err := s.loadPayment(ctx, st, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}
