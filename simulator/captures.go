package simulator

import (
	"errors"
	"fmt"

	"github.com/caddy-antom/caddy-antom/antom"
)

// captureAnswer is the body of a capture answer.
type captureAnswer struct {
	Result           antom.Result `json:"result"`
	CaptureRequestID string       `json:"captureRequestId,omitempty"`
	CaptureID        string       `json:"captureId,omitempty"`
	PaymentID        string       `json:"paymentId,omitempty"`
	CaptureAmount    *Amount      `json:"captureAmount,omitempty"`
	CaptureTime      string       `json:"captureTime,omitempty"`
}

// captureNotice is the body of a notifyCapture.
type captureNotice struct {
	NotifyType       string       `json:"notifyType"`
	Result           antom.Result `json:"result"`
	CaptureRequestID string       `json:"captureRequestId"`
	PaymentID        string       `json:"paymentId"`
	CaptureID        string       `json:"captureId"`
	CaptureAmount    Amount       `json:"captureAmount"`
	CaptureTime      string       `json:"captureTime"`
}

// capture answers v1/payments/capture. The simulator does not model authorisation-only
// payments: any successful payment can be captured, in one or more captures totalling at most
// the payment amount. CAPTURE_RESULT goes to the payment's paymentNotifyUrl.
func (s *Simulator) capture(c *call) reply {
	var req struct {
		CaptureRequestID string  `json:"captureRequestId"`
		PaymentID        string  `json:"paymentId"`
		CaptureAmount    *Amount `json:"captureAmount"`
	}
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	if err := checkID("captureRequestId", req.CaptureRequestID); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	if req.PaymentID == "" {
		return answer(onlyResult{paramIllegal(errors.New("paymentId is required"))})
	}
	minor, err := req.CaptureAmount.minorUnits("captureAmount")
	if err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := reqKey(c.clientID, req.CaptureRequestID)
	if k := s.state.capturesByReq[key]; k != nil {
		if k.paymentID != req.PaymentID || k.amount != *req.CaptureAmount {
			return answer(onlyResult{resRepeat})
		}
		return reply{body: k.answer(), magic: k.magic}
	}
	p := s.state.payments[req.PaymentID]
	if p == nil || p.clientID != c.clientID {
		return answer(onlyResult{resNotExist})
	}
	if p.amount.Currency != req.CaptureAmount.Currency {
		return answer(onlyResult{paramIllegal(fmt.Errorf("captureAmount.currency %s differs from the payment's currency %s", req.CaptureAmount.Currency, p.amount.Currency))})
	}
	s.expireLocked(p, c.now)
	k := &capture{
		requestID: req.CaptureRequestID,
		clientID:  c.clientID,
		paymentID: p.id,
		amount:    *req.CaptureAmount,
		minor:     minor,
		created:   c.now,
		magic:     magicOf(req.CaptureAmount.Value),
	}
	s.state.capturesByReq[key] = k
	switch {
	case k.magic == magicProcessFail:
		code, msg := magicProcessFailResult("capture")
		k.refusal = &antom.Result{ResultCode: code, ResultStatus: "F", ResultMessage: msg}
	case p.status != StatusSuccess:
		k.refusal = &antom.Result{ResultCode: "ORDER_STATUS_INVALID", ResultStatus: "F",
			ResultMessage: "The order status is invalid: only a successful payment can be captured; this one is " + p.status + "."}
	case p.captured+minor > p.minor:
		k.refusal = &antom.Result{ResultCode: "CAPTURE_AMOUNT_EXCEED_AUTH_LIMIT", ResultStatus: "F",
			ResultMessage: fmt.Sprintf("The total capture amount exceeds the authorised amount: authorised %d, already captured %d, asked %d (%s minor units).", p.minor, p.captured, minor, p.amount.Currency)}
	default:
		k.id = newID(c.now)
		p.captured += minor
		p.captureList = append(p.captureList, k.id)
		s.state.captures[k.id] = k
		s.notifyLocked(c.clientID, p.notifyURL, "CAPTURE_RESULT", p.id, captureNotice{
			NotifyType:       "CAPTURE_RESULT",
			Result:           resSuccess,
			CaptureRequestID: k.requestID,
			PaymentID:        p.id,
			CaptureID:        k.id,
			CaptureAmount:    k.amount,
			CaptureTime:      iso(k.created),
		})
	}
	return reply{body: k.answer(), magic: k.magic, first: true}
}

// answer renders the capture answer for k.
func (k *capture) answer() any {
	if k.refusal != nil {
		return onlyResult{*k.refusal}
	}
	return captureAnswer{
		Result:           resSuccess,
		CaptureRequestID: k.requestID,
		CaptureID:        k.id,
		PaymentID:        k.paymentID,
		CaptureAmount:    &k.amount,
		CaptureTime:      iso(k.created),
	}
}
