package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Payment statuses of inquiryPayment (protocol notes §4).
const (
	StatusSuccess    = "SUCCESS"
	StatusFail       = "FAIL"
	StatusCancelled  = "CANCELLED"
	StatusProcessing = "PROCESSING"
	StatusPending    = "PENDING"
)

// Final statuses a reconciled payment is recorded with (outbox.Payment.FinalStatus), besides
// SUCCESS, FAIL and CANCELLED.
const (
	// FinalExpired: Antom knows no payment for the paymentRequestId and its expiry passed (a
	// payment session the buyer never used).
	FinalExpired = "EXPIRED"
	// FinalUnknown: GiveUp passed without a final status; nothing was delivered to the app.
	FinalUnknown = "UNKNOWN"
)

// notifyType of the events the worker makes.
const paymentResult = "PAYMENT_RESULT"

// inquiry is what the worker reads from an inquiryPayment answer.
type inquiry struct {
	PaymentStatus        string `json:"paymentStatus"`
	PaymentResultCode    string `json:"paymentResultCode"`
	PaymentResultMessage string `json:"paymentResultMessage"`
	PaymentRequestID     string `json:"paymentRequestId"`
	PaymentID            string `json:"paymentId"`
}

// inquiryOnly are the inquiryPayment fields a PAYMENT_RESULT notification does not have.
var inquiryOnly = map[string]bool{
	"paymentStatus":        true,
	"paymentResultCode":    true,
	"paymentResultMessage": true,
	"transactions":         true, // captures and refunds have their own notifications
}

// notificationResult is the result object a PAYMENT_RESULT notification carries for a final
// inquiry answer: SUCCESS/S, or the payment's result code with F.
func notificationResult(q inquiry) antom.Result {
	if q.PaymentStatus == StatusSuccess {
		return antom.Result{ResultCode: "SUCCESS", ResultStatus: antom.StatusSuccess, ResultMessage: "success"}
	}
	r := antom.Result{ResultCode: q.PaymentResultCode, ResultStatus: antom.StatusFail, ResultMessage: q.PaymentResultMessage}
	if r.ResultCode == "" {
		r.ResultCode = "PROCESS_FAIL"
		if q.PaymentStatus == StatusCancelled {
			r.ResultCode = "ORDER_IS_CLOSED"
		}
	}
	if r.ResultMessage == "" {
		r.ResultMessage = "The payment is " + q.PaymentStatus + " (found by inquiryPayment)."
	}
	return r
}

// resultBody turns a final inquiryPayment answer into the body of the PAYMENT_RESULT
// notification Antom would have sent (notificationBody), without the inquiry-only fields.
func resultBody(answer []byte, q inquiry) ([]byte, antom.Result, error) {
	res := notificationResult(q)
	body, err := notificationBody(paymentResult, res, answer, inquiryOnly)
	return body, res, err
}

// notificationBody is the body of the notifyType notification an inquiry answer stands for:
// notifyType and res first, then the answer's fields in their order (paymentRequestId,
// paymentId, paymentAmount, ... or refundRequestId, refundId, ...) except notifyType, result
// and those in skip. Values are copied byte for byte.
func notificationBody(notifyType string, res antom.Result, answer []byte, skip map[string]bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"notifyType":"` + notifyType + `","result":`)
	buf.Write(antom.MustMarshal(res))
	err := eachField(answer, func(key string, raw json.RawMessage) {
		if skip[key] || key == "notifyType" || key == "result" {
			return
		}
		buf.WriteByte(',')
		buf.Write(antom.MustMarshal(key))
		buf.WriteByte(':')
		buf.Write(raw)
	})
	if err != nil {
		return nil, err
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// expiredBody is the PAYMENT_RESULT body for a payment Antom does not know after its expiry:
// there is no paymentId, so it carries the merchant's paymentRequestId and amount.
func expiredBody(p *outbox.Payment) ([]byte, antom.Result) {
	res := antom.Result{
		ResultCode:   "ORDER_NOT_EXIST",
		ResultStatus: antom.StatusFail,
		ResultMessage: "No payment exists at Antom for this paymentRequestId and it expired at " +
			p.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z") + ": the buyer never paid (found by inquiryPayment).",
	}
	body := struct {
		NotifyType       string        `json:"notifyType"`
		Result           antom.Result  `json:"result"`
		PaymentRequestID string        `json:"paymentRequestId"`
		PaymentAmount    outbox.Amount `json:"paymentAmount"`
	}{paymentResult, res, p.PaymentRequestID, p.Amount}
	return antom.MustMarshal(body), res
}

// eachField calls fn for each member of the JSON object b, in order.
func eachField(b []byte, fn func(key string, raw json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("the inquiryPayment answer is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("unexpected token %v in the inquiryPayment answer", t)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		fn(key, raw)
	}
	return nil
}
