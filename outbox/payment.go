package outbox

import (
	"fmt"
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
		p.CreatedAt = time.Now()
	}
	p.State = StatePending
	return nil
}
