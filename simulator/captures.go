package simulator

import (
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

// capture answers v1/payments/capture: any successful payment (a card payment is successful
// once authorised) can be captured, in one or more captures totalling at most the payment
// amount; a card payment captured automatically has nothing left. CAPTURE_RESULT goes to the
// payment's paymentNotifyUrl.
func (s *Simulator) capture(c *call) reply {
	var req struct {
		CaptureRequestID string  `json:"captureRequestId"`
		PaymentID        string  `json:"paymentId"`
		CaptureAmount    *Amount `json:"captureAmount"`
	}
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	t, err := newTxn(c, captureKind, req.CaptureRequestID, req.PaymentID, req.CaptureAmount)
	if err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := reqKey(c.clientID, t.requestID)
	if k := s.state.capturesByReq[key]; k != nil {
		return k.replay(t, k.answer())
	}
	p, refused := s.paymentForLocked(captureKind, &t)
	if p == nil {
		return refused
	}
	k := &capture{t}
	s.state.capturesByReq[key] = k
	switch {
	case k.refusal != nil: // the magic amount 4001, or the payment did not succeed
	case p.captured+k.minor > p.minor:
		k.refusal = &antom.Result{ResultCode: "CAPTURE_AMOUNT_EXCEED_AUTH_LIMIT", ResultStatus: "F",
			ResultMessage: fmt.Sprintf("The total capture amount exceeds the authorised amount: authorised %d, already captured %d, asked %d (%s minor units).", p.minor, p.captured, k.minor, p.amount.Currency)}
	default:
		k.id = newID(c.now)
		s.grantCaptureLocked(p, k, nil)
	}
	return reply{body: k.answer(), magic: k.magic, first: true}
}

// grantCaptureLocked records the granted capture k of p and notifies CAPTURE_RESULT to the
// payment's notify URL, after the notification after (if not nil).
func (s *Simulator) grantCaptureLocked(p *payment, k *capture, after *Notification) {
	p.captured += k.minor
	p.captureList = append(p.captureList, k.id)
	s.state.captures[k.id] = k
	s.state.capturesByReq[reqKey(k.clientID, k.requestID)] = k
	s.notifyAfterLocked(after, k.clientID, p.notifyURL, "CAPTURE_RESULT", p.id, captureNotice{
		NotifyType:       "CAPTURE_RESULT",
		Result:           resSuccess,
		CaptureRequestID: k.requestID,
		PaymentID:        p.id,
		CaptureID:        k.id,
		CaptureAmount:    k.amount,
		CaptureTime:      iso(k.created),
	})
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
