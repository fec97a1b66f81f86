package simulator

import (
	"errors"
	"fmt"

	"github.com/caddy-antom/caddy-antom/antom"
)

// refundAnswer is the body of a refund answer.
type refundAnswer struct {
	Result          antom.Result `json:"result"`
	RefundRequestID string       `json:"refundRequestId,omitempty"`
	RefundID        string       `json:"refundId,omitempty"`
	PaymentID       string       `json:"paymentId,omitempty"`
	RefundAmount    *Amount      `json:"refundAmount,omitempty"`
	RefundTime      string       `json:"refundTime,omitempty"`
}

// refundInquiryAnswer is the body of an inquiryRefund answer.
type refundInquiryAnswer struct {
	Result          antom.Result `json:"result"`
	RefundID        string       `json:"refundId,omitempty"`
	RefundRequestID string       `json:"refundRequestId"`
	RefundAmount    Amount       `json:"refundAmount"`
	RefundTime      string       `json:"refundTime,omitempty"`
	RefundStatus    string       `json:"refundStatus"`
}

// refundNotice is the body of a notifyRefund.
type refundNotice struct {
	NotifyType       string       `json:"notifyType"`
	Result           antom.Result `json:"result"`
	RefundStatus     string       `json:"refundStatus"`
	RefundRequestID  string       `json:"refundRequestId"`
	RefundID         string       `json:"refundId"`
	RefundAmount     Amount       `json:"refundAmount"`
	RefundCreateTime string       `json:"refundCreateTime"`
	RefundTime       string       `json:"refundTime"`
}

// refund answers v1/payments/refund. Refunds of one payment are limited, in total, to what
// was paid; only a successful payment can be refunded. A final refusal is remembered, so the
// same refundRequestId keeps getting it.
func (s *Simulator) refund(c *call) reply {
	var req struct {
		RefundRequestID string  `json:"refundRequestId"`
		PaymentID       string  `json:"paymentId"`
		RefundAmount    *Amount `json:"refundAmount"`
		RefundNotifyURL string  `json:"refundNotifyUrl"`
	}
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	t, err := newTxn(c, refundKind, req.RefundRequestID, req.PaymentID, req.RefundAmount)
	if err == nil {
		err = checkURL("refundNotifyUrl", req.RefundNotifyURL, false)
	}
	if err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := reqKey(c.clientID, t.requestID)
	if f := s.state.refundsByReq[key]; f != nil {
		return f.replay(t, f.answer())
	}
	p, refused := s.paymentForLocked(refundKind, &t)
	if p == nil {
		return refused
	}
	f := &refund{txn: t, notifyURL: req.RefundNotifyURL}
	s.state.refundsByReq[key] = f
	switch {
	case f.refusal != nil: // the magic amount 4001, or the payment did not succeed
	case p.refunded+f.minor > p.minor:
		f.refusal = &antom.Result{ResultCode: "REFUND_AMOUNT_EXCEED", ResultStatus: "F",
			ResultMessage: fmt.Sprintf("The total refund amount exceeds the payment amount: paid %d, already refunded %d, asked %d (%s minor units).", p.minor, p.refunded, f.minor, p.amount.Currency)}
	default:
		f.id = newID(c.now)
		p.refunded += f.minor
		p.refundList = append(p.refundList, f.id)
		s.state.refunds[f.id] = f
		s.notifyLocked(c.clientID, f.notifyURL, "REFUND_RESULT", p.id, refundNotice{
			NotifyType:       "REFUND_RESULT",
			Result:           resSuccess,
			RefundStatus:     StatusSuccess,
			RefundRequestID:  f.requestID,
			RefundID:         f.id,
			RefundAmount:     f.amount,
			RefundCreateTime: iso(f.created),
			RefundTime:       iso(f.created),
		})
	}
	return reply{body: f.answer(), magic: f.magic, first: true}
}

// answer renders the refund answer for f.
func (f *refund) answer() any {
	if f.refusal != nil {
		return onlyResult{*f.refusal}
	}
	return refundAnswer{
		Result:          resSuccess,
		RefundRequestID: f.requestID,
		RefundID:        f.id,
		PaymentID:       f.paymentID,
		RefundAmount:    &f.amount,
		RefundTime:      iso(f.created),
	}
}

// inquiryRefund answers v1/payments/inquiryRefund; refundId wins over refundRequestId. A
// refused refund request inquires as refundStatus FAIL.
func (s *Simulator) inquiryRefund(c *call) reply {
	var req struct {
		RefundRequestID string `json:"refundRequestId"`
		RefundID        string `json:"refundId"`
	}
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var f *refund
	switch {
	case req.RefundID != "":
		f = s.state.refunds[req.RefundID]
	case req.RefundRequestID != "":
		f = s.state.refundsByReq[reqKey(c.clientID, req.RefundRequestID)]
	default:
		return answer(onlyResult{paramIllegal(errors.New("refundId or refundRequestId is required"))})
	}
	if f == nil || f.clientID != c.clientID {
		return answer(onlyResult{resNotExist})
	}
	a := refundInquiryAnswer{
		Result:          resSuccess,
		RefundID:        f.id,
		RefundRequestID: f.requestID,
		RefundAmount:    f.amount,
		RefundStatus:    StatusSuccess,
		RefundTime:      iso(f.created),
	}
	if f.refusal != nil {
		a.RefundStatus, a.RefundTime = StatusFail, ""
	}
	return answer(a)
}
