package reconcile

import (
	"cmp"
	"encoding/json"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// notifyType of the refund and capture events the worker makes.
const (
	refundResult  = "REFUND_RESULT"
	captureResult = "CAPTURE_RESULT"
)

// FinalNothingOwed is the final status of an automatic capture whose card payment did not
// succeed (failed, cancelled, or unknown to Antom past its expiry): there is no capture, and
// nothing is delivered to the app.
const FinalNothingOwed = "NO_CAPTURE"

// refundInquiry is what the worker reads from an inquiryRefund answer.
type refundInquiry struct {
	RefundStatus    string `json:"refundStatus"`
	RefundRequestID string `json:"refundRequestId"`
	RefundID        string `json:"refundId"`
}

// classifyRefund reads a signed S inquiryRefund answer into a and returns the metrics outcome.
// SUCCESS and FAIL are final; PROCESSING (and any other status) is asked again.
func (s *step) classifyRefund(body []byte, a *answer) string {
	var q refundInquiry
	if err := json.Unmarshal(body, &q); err != nil {
		a.summary = "inquiry: unreadable SUCCESS answer"
		return "error"
	}
	if q.RefundRequestID != "" && q.RefundRequestID != s.p.RefundRequestID {
		s.log.Error("inquiryRefund answered about another refund; ignoring it", zap.String("answered_refund_request_id", q.RefundRequestID))
		a.summary = "inquiry: answer names another refundRequestId"
		return "error"
	}
	if q.RefundID != "" && s.p.RefundID == "" {
		s.p.RefundID = q.RefundID
	}
	a.summary = "inquiry: refund " + q.RefundStatus
	switch q.RefundStatus {
	case StatusSuccess, StatusFail:
	case StatusProcessing:
		return "processing"
	default:
		return "other"
	}
	res := txnResult(q.RefundStatus, "refund", "inquiryRefund", nil)
	body, err := notificationBody(refundResult, res, body, nil)
	if err != nil {
		a.summary = truncate("inquiry: " + err.Error())
		return "error"
	}
	a.final, a.status, a.body, a.result = true, q.RefundStatus, body, res
	return outcomeOf(q.RefundStatus)
}

// captureInquiry is what the worker reads from an inquiryPayment answer about a capture: the
// payment's status and the capture transactions it lists.
type captureInquiry struct {
	PaymentStatus    string `json:"paymentStatus"`
	PaymentRequestID string `json:"paymentRequestId"`
	PaymentID        string `json:"paymentId"`
	Transactions     []struct {
		TransactionType      string          `json:"transactionType"`
		TransactionStatus    string          `json:"transactionStatus"`
		TransactionRequestID string          `json:"transactionRequestId"`
		TransactionID        string          `json:"transactionId"`
		TransactionAmount    json.RawMessage `json:"transactionAmount"`
		TransactionTime      json.RawMessage `json:"transactionTime"`
		TransactionResult    *antom.Result   `json:"transactionResult"`
	} `json:"transactions"`
}

// captureNotice is the body of the CAPTURE_RESULT notification a capture transaction stands
// for, in the notification's field order.
type captureNotice struct {
	NotifyType       string          `json:"notifyType"`
	Result           antom.Result    `json:"result"`
	CaptureRequestID string          `json:"captureRequestId"`
	PaymentID        string          `json:"paymentId"`
	CaptureID        string          `json:"captureId"`
	CaptureAmount    json.RawMessage `json:"captureAmount,omitempty"`
	CaptureTime      json.RawMessage `json:"captureTime,omitempty"`
}

// classifyCapture reads a signed S inquiryPayment answer about the payment of a capture record
// into a and returns the metrics outcome. The capture is the CAPTURE transaction with the
// record's captureRequestId (or captureId); for an automatic capture, the payment's first
// CAPTURE transaction. SUCCESS and FAIL are final. A payment that failed or was cancelled has
// nothing captured: the record ends with FinalNothingOwed.
func (s *step) classifyCapture(body []byte, a *answer) string {
	p := s.p
	var q captureInquiry
	if err := json.Unmarshal(body, &q); err != nil {
		a.summary = "inquiry: unreadable SUCCESS answer"
		return "error"
	}
	if p.PaymentRequestID != "" && q.PaymentRequestID != "" && q.PaymentRequestID != p.PaymentRequestID ||
		p.PaymentID != "" && q.PaymentID != "" && q.PaymentID != p.PaymentID {
		s.log.Error("inquiryPayment answered about another payment; ignoring it", zap.String("answered_payment_id", q.PaymentID))
		a.summary = "inquiry: answer names another payment"
		return "error"
	}
	if p.PaymentID == "" {
		p.PaymentID = q.PaymentID
	}
	for _, t := range q.Transactions {
		if t.TransactionType != "CAPTURE" {
			continue
		}
		if p.CaptureRequestID != "" && t.TransactionRequestID != p.CaptureRequestID && (p.CaptureID == "" || t.TransactionID != p.CaptureID) {
			continue
		}
		p.CaptureRequestID, p.CaptureID = t.TransactionRequestID, t.TransactionID
		a.summary = "inquiry: capture " + t.TransactionStatus
		switch t.TransactionStatus {
		case StatusSuccess, StatusFail:
		case StatusProcessing:
			return "processing"
		default:
			return "other"
		}
		res := txnResult(t.TransactionStatus, "capture", "inquiryPayment", t.TransactionResult)
		a.final, a.status, a.result = true, t.TransactionStatus, res
		a.body = antom.MustMarshal(captureNotice{captureResult, res, t.TransactionRequestID, q.PaymentID, t.TransactionID, t.TransactionAmount, t.TransactionTime})
		return outcomeOf(t.TransactionStatus)
	}
	a.summary = "inquiry: payment " + q.PaymentStatus + ", capture not reported yet"
	if q.PaymentStatus == StatusFail || q.PaymentStatus == StatusCancelled {
		a.nothingOwed = true
		a.summary = "inquiry: payment " + q.PaymentStatus + ", nothing captured"
		return "nothing_owed"
	}
	return "pending"
}

// txnResult is the result object of a refund's or capture's notification: the transaction's
// own result when the answer gives it, else SUCCESS/S or PROCESS_FAIL/F.
func txnResult(status, what, api string, own *antom.Result) antom.Result {
	if own != nil && own.ResultStatus != "" {
		return *own
	}
	if status == StatusSuccess {
		return antom.Result{ResultCode: "SUCCESS", ResultStatus: antom.StatusSuccess, ResultMessage: "success"}
	}
	return antom.Result{ResultCode: "PROCESS_FAIL", ResultStatus: antom.StatusFail,
		ResultMessage: "The " + what + " is " + status + " (found by " + api + ")."}
}

// outcomeOf is the metrics outcome of a final status.
func outcomeOf(status string) string {
	if status == StatusSuccess {
		return "success"
	}
	return "fail"
}

// resultEvent is the event that stands in for the notification of a's final result, to be
// forwarded on route: its kind, type, request id and deduplication key are those of the
// notification p's kind has, and it is ordered with the events of p's payment as route orders
// that notification.
func resultEvent(p *outbox.Payment, a *answer, route delivery.Route) *outbox.Event {
	ev := &outbox.Event{
		Profile:      p.Profile,
		Route:        route.ID,
		OrderKey:     route.OrderKey(p.PaymentID), // its payment's later events wait for it
		Source:       outbox.SourceInquiry,
		ResultStatus: a.result.ResultStatus,
		Body:         a.body,
		TraceParent:  p.TraceParent,
		DedupKey:     cmp.Or(notificationKey(p), antom.BodyDedupKey(a.body)),
	}
	switch p.Kind {
	case outbox.RecordRefund:
		ev.Kind, ev.Type, ev.RequestIDField, ev.RequestID = antom.KindRefund, refundResult, "refundRequestId", p.RefundRequestID
	case outbox.RecordCapture:
		ev.Kind, ev.Type, ev.RequestIDField, ev.RequestID = antom.KindCapture, captureResult, "captureRequestId", p.CaptureRequestID
	default:
		ev.Kind, ev.Type, ev.RequestIDField, ev.RequestID = antom.KindPayment, paymentResult, "paymentRequestId", p.PaymentRequestID
	}
	ev.ID = outbox.EventID(p.Profile, ev.DedupKey)
	return ev
}

// notificationKey is the deduplication key of the final notification p waits for, "" while
// the id it derives from is unknown.
func notificationKey(p *outbox.Payment) string {
	switch {
	case p.Kind == outbox.RecordRefund && p.RefundID != "":
		return antom.RefundResultDedupKey(p.RefundID)
	case p.Kind == outbox.RecordCapture && p.CaptureID != "":
		return antom.CaptureResultDedupKey(p.CaptureID)
	case p.Kind == outbox.RecordPayment && p.PaymentID != "":
		return antom.PaymentResultDedupKey(p.PaymentID)
	}
	return ""
}
