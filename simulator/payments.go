package simulator

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Product codes the simulator implements.
const (
	productCashier   = "CASHIER_PAYMENT"
	productAgreement = "AGREEMENT_PAYMENT"
	sceneEasyPay     = "EASY_PAY"
)

// payAnswer is the body of a pay answer.
type payAnswer struct {
	Result             antom.Result `json:"result"`
	PaymentRequestID   string       `json:"paymentRequestId,omitempty"`
	PaymentID          string       `json:"paymentId,omitempty"`
	PaymentAmount      *Amount      `json:"paymentAmount,omitempty"`
	PaymentCreateTime  string       `json:"paymentCreateTime,omitempty"`
	PaymentTime        string       `json:"paymentTime,omitempty"`
	NormalURL          string       `json:"normalUrl,omitempty"`
	RedirectActionForm *actionForm  `json:"redirectActionForm,omitempty"`
	PaymentResultInfo  *resultInfo  `json:"paymentResultInfo,omitempty"`
}

type actionForm struct {
	Method      string `json:"method"`
	RedirectURL string `json:"redirectUrl"`
}

// sessionAnswer is the body of a createPaymentSession answer.
type sessionAnswer struct {
	Result                   antom.Result `json:"result"`
	PaymentSessionData       string       `json:"paymentSessionData,omitempty"`
	PaymentSessionExpiryTime string       `json:"paymentSessionExpiryTime,omitempty"`
	PaymentSessionID         string       `json:"paymentSessionId,omitempty"`
	NormalURL                string       `json:"normalUrl,omitempty"`
}

// inquiryAnswer is the body of an inquiryPayment answer.
type inquiryAnswer struct {
	Result               antom.Result  `json:"result"`
	PaymentStatus        string        `json:"paymentStatus"`
	PaymentResultCode    string        `json:"paymentResultCode"`
	PaymentResultMessage string        `json:"paymentResultMessage"`
	PaymentRequestID     string        `json:"paymentRequestId"`
	PaymentID            string        `json:"paymentId"`
	PaymentAmount        Amount        `json:"paymentAmount"`
	PaymentCreateTime    string        `json:"paymentCreateTime"`
	PaymentTime          string        `json:"paymentTime,omitempty"`
	PaymentResultInfo    *resultInfo   `json:"paymentResultInfo,omitempty"`
	CardInfo             *cardInfo     `json:"cardInfo,omitempty"`
	Transactions         []transaction `json:"transactions,omitempty"`
}

// transaction lists a capture or refund of a payment in inquiryPayment.
type transaction struct {
	TransactionType      string       `json:"transactionType"`
	TransactionStatus    string       `json:"transactionStatus"`
	TransactionRequestID string       `json:"transactionRequestId"`
	TransactionID        string       `json:"transactionId"`
	TransactionAmount    Amount       `json:"transactionAmount"`
	TransactionTime      string       `json:"transactionTime"`
	TransactionResult    antom.Result `json:"transactionResult"`
}

// cancelAnswer is the body of a cancel answer.
type cancelAnswer struct {
	Result           antom.Result `json:"result"`
	PaymentID        string       `json:"paymentId,omitempty"`
	PaymentRequestID string       `json:"paymentRequestId,omitempty"`
	CancelTime       string       `json:"cancelTime,omitempty"`
}

// paymentNotice is the body of a notifyPayment.
type paymentNotice struct {
	NotifyType        string       `json:"notifyType"`
	Result            antom.Result `json:"result"`
	PaymentRequestID  string       `json:"paymentRequestId"`
	PaymentID         string       `json:"paymentId"`
	PaymentAmount     Amount       `json:"paymentAmount"`
	PaymentCreateTime string       `json:"paymentCreateTime"`
	PaymentTime       string       `json:"paymentTime,omitempty"`
	PaymentResultInfo *resultInfo  `json:"paymentResultInfo,omitempty"`
	CardInfo          *cardInfo    `json:"cardInfo,omitempty"`
}

// consult answers v1/payments/consult with a fixed set of payment options.
func (s *Simulator) consult(c *call) reply {
	var req struct {
		ProductCode   string  `json:"productCode"`
		PaymentAmount *Amount `json:"paymentAmount"`
	}
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	if req.ProductCode == "" {
		return answer(onlyResult{paramIllegal(errors.New("productCode is required"))})
	}
	if _, err := req.PaymentAmount.minorUnits("paymentAmount"); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	type option struct {
		PaymentMethodType     string `json:"paymentMethodType"`
		PaymentMethodCategory string `json:"paymentMethodCategory"`
		Enabled               bool   `json:"enabled"`
	}
	return answer(struct {
		Result         antom.Result `json:"result"`
		PaymentOptions []option     `json:"paymentOptions"`
	}{resSuccess, []option{
		{"ALIPAY_CN", "WALLET", true},
		{"ALIPAY_HK", "WALLET", true},
		{"GCASH", "WALLET", true},
		{"CARD", "CARD", true},
	}})
}

// pay answers v1/payments/pay: a cashier payment waits for the buyer; an AGREEMENT_PAYMENT
// with an EasySafePay access token succeeds at once, without the buyer.
func (s *Simulator) pay(c *call) reply { return s.startPayment(c, "pay") }

// createPaymentSession answers v1/payments/createPaymentSession for the cashier
// (CASHIER_PAYMENT) and EasySafePay (AGREEMENT_PAYMENT, productScene EASY_PAY).
func (s *Simulator) createPaymentSession(c *call) reply {
	return s.startPayment(c, "createPaymentSession")
}

// startPayment validates a pay or createPaymentSession request, then replays or creates the
// payment of its paymentRequestId.
func (s *Simulator) startPayment(c *call, api string) reply {
	var req payRequest
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	minor, expires, meta, err := validatePayment(&req, api, c.now)
	if err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startSweeperLocked()
	if p := s.state.paymentsByReq[reqKey(c.clientID, req.PaymentRequestID)]; p != nil {
		if p.api != api || p.productCode != req.ProductCode || p.amount != *req.PaymentAmount {
			return answer(onlyResult{resRepeat})
		}
		s.expireLocked(p, c.now)
		return reply{body: s.startAnswerLocked(p), magic: p.magic}
	}

	p := &payment{
		id:               newID(c.now),
		requestID:        req.PaymentRequestID,
		clientID:         c.clientID,
		api:              api,
		productCode:      req.ProductCode,
		productScene:     req.ProductScene,
		methodType:       req.PaymentMethod.PaymentMethodType,
		store:            req.Order.Merchant,
		amount:           *req.PaymentAmount,
		minor:            minor,
		referenceOrderID: req.Order.ReferenceOrderID,
		redirectURL:      req.PaymentRedirectURL,
		notifyURL:        req.PaymentNotifyURL,
		created:          c.now,
		status:           StatusProcessing,
		resultCode:       resInProcess.ResultCode,
		resultMessage:    resInProcess.ResultMessage,
		magic:            magicOf(req.PaymentAmount.Value),
	}
	if req.AgreementInfo != nil {
		p.authState, p.userLoginID = req.AgreementInfo.AuthState, req.AgreementInfo.UserLoginID
	}
	s.state.payments[p.id] = p
	s.state.paymentsByReq[reqKey(p.clientID, p.requestID)] = p

	tokenID := req.PaymentMethod.PaymentMethodID
	switch {
	case p.magic == magicProcessFail:
		p.status = StatusFail
		p.resultCode, p.resultMessage = magicProcessFailResult("payment")
	case isCardPay(&req, api):
		p.expires = expires
		s.startCardLocked(p, &req, meta, c.base, c.now)
	case tokenID != "" && p.productCode == productAgreement:
		p.accessToken = tokenID
		if !s.tokenValidLocked(tokenID, c.clientID, c.now) {
			p.status = StatusFail
			p.resultCode, p.resultMessage = "INVALID_ACCESS_TOKEN", "The access token is invalid, expired or revoked: get one with v1/authorizations/applyToken."
			break
		}
		if api == "pay" {
			// A token payment needs no buyer: it succeeds at once and is notified.
			s.settleLocked(p, StatusSuccess, c.now)
			break
		}
		fallthrough // an EasySafePay session with a token still shows the buyer a confirmation
	default:
		p.expires = expires
		p.normalURL = c.base + "/cashier/" + p.id
		if api == "createPaymentSession" {
			p.sessionID = randToken(36)
			p.sessionData = randToken(96) + "&&SIM&&" + p.id
			p.sessionExpires = expires
		}
	}
	return reply{body: s.startAnswerLocked(p), magic: p.magic, first: true}
}

// isCardPay reports whether a request is a card payment (cards.go).
func isCardPay(req *payRequest, api string) bool {
	return api == "pay" && req.ProductCode == productCashier && req.PaymentMethod.PaymentMethodType == methodCard
}

// validatePayment checks a pay or createPaymentSession request and returns its amount, the
// expiry of its payment session and, for a server-to-server card payment, the card.
func validatePayment(req *payRequest, api string, now time.Time) (int64, time.Time, *cardMeta, error) {
	if err := checkID("paymentRequestId", req.PaymentRequestID); err != nil {
		return 0, time.Time{}, nil, err
	}
	minor, err := req.PaymentAmount.minorUnits("paymentAmount")
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	if err := checkURL("paymentNotifyUrl", req.PaymentNotifyURL, false); err != nil {
		return 0, time.Time{}, nil, err
	}
	var meta *cardMeta
	if isCardPay(req, api) {
		if meta, err = checkCardRequest(req); err != nil {
			return 0, time.Time{}, nil, err
		}
	}
	token := req.PaymentMethod.PaymentMethodID
	buyerFacing := true
	expiryField, expiry, life := "paymentExpiryTime", req.PaymentExpiryTime, cashierExpiry
	if api == "createPaymentSession" && req.PaymentSessionExpiryTime != "" {
		expiryField, expiry = "paymentSessionExpiryTime", req.PaymentSessionExpiryTime
	}
	switch req.ProductCode {
	case productCashier:
	case productInStore:
		if err := checkEntryCode(req, api); err != nil {
			return 0, time.Time{}, nil, err
		}
		exp, err := parseExpiry(expiryField, expiry, now, life)
		return minor, exp, nil, err
	case productAgreement:
		if api == "pay" {
			if token == "" {
				return 0, time.Time{}, nil, errors.New("paymentMethod.paymentMethodId (the EasySafePay access token from applyToken) is required for an AGREEMENT_PAYMENT pay")
			}
			buyerFacing = false
			break
		}
		if req.ProductScene != sceneEasyPay {
			return 0, time.Time{}, nil, fmt.Errorf("productScene %q is not supported with AGREEMENT_PAYMENT sessions: the simulator implements EASY_PAY", req.ProductScene)
		}
		if token == "" && (req.AgreementInfo == nil || req.AgreementInfo.AuthState == "") {
			return 0, time.Time{}, nil, errors.New("agreementInfo.authState is required for a first EasySafePay payment (or paymentMethod.paymentMethodId with an access token for a later one)")
		}
		life = easySafePayExpiry
	case "":
		return 0, time.Time{}, nil, errors.New("productCode is required")
	default:
		return 0, time.Time{}, nil, fmt.Errorf("productCode %q is not supported by the simulator (CASHIER_PAYMENT, AGREEMENT_PAYMENT, IN_STORE_PAYMENT)", req.ProductCode)
	}
	if !buyerFacing {
		return minor, time.Time{}, nil, nil
	}
	if err := checkURL("paymentRedirectUrl", req.PaymentRedirectURL, true); err != nil {
		return 0, time.Time{}, nil, err
	}
	exp, err := parseExpiry(expiryField, expiry, now, life)
	return minor, exp, meta, err
}

// startAnswerLocked renders the answer to a pay or createPaymentSession from the payment's
// current state, so that a retry with the same paymentRequestId learns the outcome.
func (s *Simulator) startAnswerLocked(p *payment) any {
	if p.api == "createPaymentSession" {
		if p.sessionID == "" { // refused at creation
			return onlyResult{fail(p.resultCode, p.resultMessage)}
		}
		return sessionAnswer{
			Result:                   resSuccess,
			PaymentSessionData:       p.sessionData,
			PaymentSessionExpiryTime: iso(p.sessionExpires),
			PaymentSessionID:         p.sessionID,
			NormalURL:                p.normalURL,
		}
	}
	a := payAnswer{
		PaymentRequestID:  p.requestID,
		PaymentID:         p.id,
		PaymentAmount:     &p.amount,
		PaymentCreateTime: iso(p.created),
		PaymentResultInfo: p.resultInfo(),
	}
	switch p.status {
	case StatusProcessing:
		a.Result = resInProcess
		a.NormalURL = p.normalURL
		a.RedirectActionForm = &actionForm{Method: "GET", RedirectURL: p.normalURL}
	case StatusSuccess:
		a.Result = resSuccess
		a.PaymentTime = iso(p.paid)
	default:
		a.Result = fail(p.resultCode, p.resultMessage)
	}
	return a
}

// lookupLocked finds a payment of clientID by paymentId (which wins) or paymentRequestId.
func (s *Simulator) lookupLocked(clientID string, ref paymentRef) (*payment, error) {
	var p *payment
	switch {
	case ref.PaymentID != "":
		p = s.state.payments[ref.PaymentID]
	case ref.PaymentRequestID != "":
		p = s.state.paymentsByReq[reqKey(clientID, ref.PaymentRequestID)]
	default:
		return nil, errors.New("paymentId or paymentRequestId is required")
	}
	if p == nil || p.clientID != clientID {
		return nil, nil
	}
	return p, nil
}

// withPayment serves an API that names one payment by paymentRef (inquiryPayment, cancel):
// it finds the payment of the caller, applies its expiry and runs fn on it with s.mu held.
func (s *Simulator) withPayment(c *call, fn func(p *payment) reply) reply {
	var ref paymentRef
	if err := decode(c.body, &ref); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.lookupLocked(c.clientID, ref)
	switch {
	case err != nil:
		return answer(onlyResult{paramIllegal(err)})
	case p == nil:
		return answer(onlyResult{resNotExist})
	}
	s.expireLocked(p, c.now)
	return fn(p)
}

// inquiryPayment answers v1/payments/inquiryPayment.
func (s *Simulator) inquiryPayment(c *call) reply {
	return s.withPayment(c, func(p *payment) reply {
		a := inquiryAnswer{
			Result:               resSuccess,
			PaymentStatus:        p.status,
			PaymentResultCode:    p.resultCode,
			PaymentResultMessage: p.resultMessage,
			PaymentRequestID:     p.requestID,
			PaymentID:            p.id,
			PaymentAmount:        p.amount,
			PaymentCreateTime:    iso(p.created),
			PaymentTime:          iso(p.paid),
			PaymentResultInfo:    p.resultInfo(),
			CardInfo:             p.cardInfo(),
		}
		for _, id := range p.captureList {
			a.Transactions = append(a.Transactions, s.state.captures[id].listed("CAPTURE"))
		}
		for _, id := range p.refundList {
			a.Transactions = append(a.Transactions, s.state.refunds[id].listed("REFUND"))
		}
		return answer(a)
	})
}

// cancelPayment answers v1/payments/cancel: an unpaid payment is closed (no notification: the
// merchant asked); a paid one is refused (refund it), a failed one is already closed.
func (s *Simulator) cancelPayment(c *call) reply {
	return s.withPayment(c, func(p *payment) reply {
		switch p.status {
		case StatusProcessing:
			p.status, p.cancelled = StatusCancelled, c.now
			p.resultCode, p.resultMessage = "ORDER_IS_CLOSED", "The order is closed: the merchant cancelled the payment."
		case StatusSuccess:
			if p.card == nil || p.captured > 0 {
				return answer(onlyResult{fail("ORDER_STATUS_INVALID", "The order status is invalid: the payment succeeded, so it cannot be cancelled; refund it instead.")})
			}
			// An authorised card payment not yet captured: cancelling voids the authorisation.
			p.status, p.cancelled = StatusCancelled, c.now
			p.resultCode, p.resultMessage = "ORDER_IS_CLOSED", "The order is closed: the merchant cancelled the authorisation."
		case StatusFail:
			return answer(onlyResult{fail("ORDER_IS_CLOSED", "The order is closed: the payment already failed ("+p.resultCode+").")})
		}
		// StatusCancelled, now or before: cancelling is idempotent.
		return answer(cancelAnswer{Result: resSuccess, PaymentID: p.id, PaymentRequestID: p.requestID, CancelTime: iso(p.cancelled)})
	})
}

// expireLocked closes p if its payment session expired unpaid: paymentStatus FAIL with
// ORDER_IS_CLOSED, notified like any final failure.
func (s *Simulator) expireLocked(p *payment, now time.Time) {
	if p.status != StatusProcessing || p.expires.IsZero() || now.Before(p.expires) {
		return
	}
	p.resultCode, p.resultMessage = "ORDER_IS_CLOSED", "The order is closed: the payment expired before the buyer completed it."
	s.settleLocked(p, StatusFail, now)
}

// expireAllLocked applies expireLocked to every payment.
func (s *Simulator) expireAllLocked() {
	now := s.now()
	for _, p := range s.state.payments {
		s.expireLocked(p, now)
	}
}

// settleLocked moves p to a final status and sends its notifications. For StatusFail and
// StatusCancelled the caller sets resultCode and resultMessage first.
func (s *Simulator) settleLocked(p *payment, status string, now time.Time) {
	p.status = status
	if p.card != nil {
		p.card.challenge = false // final: no 3-D Secure challenge waits any more
	}
	res := fail(p.resultCode, p.resultMessage)
	var auth *Notification
	switch status {
	case StatusSuccess:
		p.paid = now
		p.resultCode, p.resultMessage = resSuccess.ResultCode, resSuccess.ResultMessage
		res = resSuccess
		if p.authState != "" && p.accessToken == "" {
			// EasySafePay first payment: the authorisation is notified, and acknowledged, first.
			auth = s.authorizeLocked(p, now)
		}
	case StatusCancelled:
		p.cancelled = now
	}
	n := s.notifyAfterLocked(auth, p.clientID, p.notifyURL, "PAYMENT_RESULT", p.id, paymentNotice{
		NotifyType:        "PAYMENT_RESULT",
		Result:            res,
		PaymentRequestID:  p.requestID,
		PaymentID:         p.id,
		PaymentAmount:     p.amount,
		PaymentCreateTime: iso(p.created),
		PaymentTime:       iso(p.paid),
		PaymentResultInfo: p.resultInfo(),
		CardInfo:          p.cardInfo(),
	})
	if status == StatusSuccess && p.card != nil && !p.card.manualCapture {
		s.autoCaptureLocked(p, n, now)
	}
}
