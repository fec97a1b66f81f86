package simulator

import (
	"errors"
	"fmt"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Captures and refunds are handled alike up to their own rules (how much may be captured or
// refunded, where the result is notified): the steps they share are here.

// txnKind is how Antom words a kind of transaction in field names and messages.
type txnKind struct {
	name string // "capture": captureRequestId, captureAmount
	done string // "captured": only a successful payment can be captured
}

var (
	captureKind = txnKind{name: "capture", done: "captured"}
	refundKind  = txnKind{name: "refund", done: "refunded"}
)

// newTxn checks the fields a capture and a refund request share and returns the transaction
// asked for. The error is a PARAM_ILLEGAL message.
func newTxn(c *call, kind txnKind, requestID, paymentID string, amount *Amount) (txn, error) {
	if err := checkID(kind.name+"RequestId", requestID); err != nil {
		return txn{}, err
	}
	if paymentID == "" {
		return txn{}, errors.New("paymentId is required")
	}
	minor, err := amount.minorUnits(kind.name + "Amount")
	if err != nil {
		return txn{}, err
	}
	return txn{
		requestID: requestID,
		clientID:  c.clientID,
		paymentID: paymentID,
		amount:    *amount,
		minor:     minor,
		created:   c.now,
		magic:     magicOf(amount.Value),
	}, nil
}

// replay answers again the request id of t, whose answer is body; again is the new request.
// Naming another payment or amount under the same request id is REPEAT_REQ_INCONSISTENT. A
// replay is not a first answer: once-only magic does not apply.
func (t *txn) replay(again txn, body any) reply {
	if t.paymentID != again.paymentID || t.amount != again.amount {
		return answer(onlyResult{resRepeat})
	}
	return reply{body: body, magic: t.magic}
}

// paymentForLocked returns the payment a new transaction t is for, with its expiry applied,
// or nil and the reply refusing t at once: ORDER_NOT_EXIST, or PARAM_ILLEGAL if t is in
// another currency. It also sets t.refusal for the final refusals every kind shares: the
// magic amount 4001, then a payment that did not succeed.
func (s *Simulator) paymentForLocked(kind txnKind, t *txn) (*payment, reply) {
	p := s.state.payments[t.paymentID]
	if p == nil || p.clientID != t.clientID {
		return nil, answer(onlyResult{resNotExist})
	}
	if p.amount.Currency != t.amount.Currency {
		return nil, answer(onlyResult{paramIllegal(fmt.Errorf("%sAmount.currency %s differs from the payment's currency %s", kind.name, t.amount.Currency, p.amount.Currency))})
	}
	s.expireLocked(p, t.created) // t is created now
	switch {
	case t.magic == magicProcessFail:
		code, msg := magicProcessFailResult(kind.name)
		t.refusal = &antom.Result{ResultCode: code, ResultStatus: "F", ResultMessage: msg}
	case p.status != StatusSuccess:
		t.refusal = &antom.Result{ResultCode: "ORDER_STATUS_INVALID", ResultStatus: "F",
			ResultMessage: "The order status is invalid: only a successful payment can be " + kind.done + "; this one is " + p.status + "."}
	}
	return p, reply{}
}

// listed is t as inquiryPayment lists it among the payment's transactions; only granted
// transactions are listed.
func (t *txn) listed(transactionType string) transaction {
	return transaction{transactionType, StatusSuccess, t.requestID, t.id, t.amount, iso(t.created), resSuccess}
}
