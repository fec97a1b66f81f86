package reconcile

import (
	"encoding/json"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Card payment fields that decide whether Antom captures the authorisation on its own.
const (
	methodCard       = "CARD"
	captureAutomatic = "AUTOMATIC"
)

// Records returns every reconciliation record an API call antom_api proxied starts (see
// Started for request, answer and what "not refused" means):
//
//   - pay and createPaymentSession: the payment (Started), and for a card payment with
//     automatic capture (paymentFactor.captureMode empty or AUTOMATIC) its capture, which
//     Antom makes on its own and reports only by CAPTURE_RESULT or inquiryPayment;
//   - refund: the refund, inquired with inquiryRefund until REFUND_RESULT's outcome;
//   - capture: the capture, inquired with inquiryPayment until it lists the capture's outcome.
func Records(profile, api string, request []byte, answer *antom.Response, now time.Time, cfg Config) []*outbox.Payment {
	switch api {
	case "pay", "createPaymentSession":
		p := Started(profile, api, request, answer, now, cfg)
		if p == nil {
			return nil
		}
		if c := autoCapture(p, request); c != nil {
			return []*outbox.Payment{p, c}
		}
		return []*outbox.Payment{p}
	case "refund", "capture":
		if p := txnStarted(profile, api, request, answer, now, cfg); p != nil {
			return []*outbox.Payment{p}
		}
	}
	return nil
}

// autoCapture returns the record of the automatic capture of the card payment p, or nil when
// the request is not a card payment captured automatically.
func autoCapture(p *outbox.Payment, request []byte) *outbox.Payment {
	var req struct {
		PaymentMethod struct {
			PaymentMethodType string `json:"paymentMethodType"`
		} `json:"paymentMethod"`
		PaymentFactor struct {
			CaptureMode string `json:"captureMode"`
		} `json:"paymentFactor"`
	}
	if json.Unmarshal(request, &req) != nil || req.PaymentMethod.PaymentMethodType != methodCard {
		return nil
	}
	if m := req.PaymentFactor.CaptureMode; m != "" && m != captureAutomatic {
		return nil
	}
	return &outbox.Payment{
		ID:               outbox.AutoCaptureRecordID(p.Profile, p.PaymentRequestID),
		Kind:             outbox.RecordCapture,
		Profile:          p.Profile,
		PaymentRequestID: p.PaymentRequestID,
		PaymentID:        p.PaymentID,
		Amount:           p.Amount,
		ExpiresAt:        p.ExpiresAt, // a payment Antom does not know after it owes no capture
		CreatedAt:        p.CreatedAt,
		NextInquiry:      p.NextInquiry,
		LastResult:       "automatic capture of " + p.LastResult,
	}
}

// txnStarted returns the record of a refund or capture Antom did not refuse, or nil.
func txnStarted(profile, api string, request []byte, answer *antom.Response, now time.Time, cfg Config) *outbox.Payment {
	var ans struct {
		RefundID  string `json:"refundId"`
		CaptureID string `json:"captureId"`
	}
	p := newRecord(profile, api, answer, &ans, now, cfg)
	if p == nil {
		return nil
	}
	var req struct {
		RefundRequestID  string        `json:"refundRequestId"`
		RefundAmount     outbox.Amount `json:"refundAmount"`
		CaptureRequestID string        `json:"captureRequestId"`
		CaptureAmount    outbox.Amount `json:"captureAmount"`
		PaymentID        string        `json:"paymentId"`
	}
	if err := json.Unmarshal(request, &req); err != nil {
		return nil
	}
	p.PaymentID = req.PaymentID
	if api == "refund" {
		if req.RefundRequestID == "" {
			return nil
		}
		p.ID, p.Kind = outbox.RefundRecordID(profile, req.RefundRequestID), outbox.RecordRefund
		p.RefundRequestID, p.RefundID, p.Amount = req.RefundRequestID, ans.RefundID, req.RefundAmount
		return p
	}
	if req.CaptureRequestID == "" || req.PaymentID == "" {
		return nil
	}
	p.ID, p.Kind = outbox.CaptureRecordID(profile, req.CaptureRequestID), outbox.RecordCapture
	p.CaptureRequestID, p.CaptureID, p.Amount = req.CaptureRequestID, ans.CaptureID, req.CaptureAmount
	return p
}
