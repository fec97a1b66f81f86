package reconcile

import (
	"encoding/json"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Product codes whose default expiry Antom documents.
const (
	productCashier   = "CASHIER_PAYMENT"
	productAgreement = "AGREEMENT_PAYMENT"
)

// startRequest is what Started reads from a pay or createPaymentSession request.
type startRequest struct {
	ProductCode              string        `json:"productCode"`
	PaymentRequestID         string        `json:"paymentRequestId"`
	PaymentAmount            outbox.Amount `json:"paymentAmount"`
	PaymentExpiryTime        string        `json:"paymentExpiryTime"`
	PaymentSessionExpiryTime string        `json:"paymentSessionExpiryTime"`
	PaymentMethod            struct {
		PaymentMethodID string `json:"paymentMethodId"`
	} `json:"paymentMethod"`
}

// startAnswer is what Started reads from Antom's answer.
type startAnswer struct {
	PaymentID                string `json:"paymentId"`
	PaymentSessionExpiryTime string `json:"paymentSessionExpiryTime"`
}

// Started returns the payment to reconcile for an API call antom_api proxied, or nil when the
// call certainly did not start one. api is the API name ("pay", "createPaymentSession");
// request is the exact body sent. answer is Antom's answer as antom_api accepted it, or nil
// when the request may have reached Antom but no answer could be trusted (timeout, connection
// lost after sending, an answer that failed verification).
//
// A payment is recorded unless Antom refused it (F): after S, after U (PAYMENT_IN_PROCESS: the
// payment waits for the buyer; UNKNOWN_EXCEPTION: it may exist), and after no trusted answer
// at all. The unclear cases are the ones reconciliation exists for: only an inquiry tells
// whether the payment exists. Only a signed answer's paymentId is believed.
//
// The expiry is the one the request or answer names (paymentSessionExpiryTime,
// paymentExpiryTime), else Antom's documented default: 14 minutes for CASHIER_PAYMENT, one hour
// for EasySafePay sessions. Other payments get no expiry: they are inquired about until final
// or GiveUp, and never cancelled.
func Started(profile, api string, request []byte, answer *antom.Response, now time.Time, cfg Config) *outbox.Payment {
	if api != "pay" && api != "createPaymentSession" {
		return nil
	}
	var ans startAnswer
	p := newRecord(profile, api, answer, &ans, now, cfg)
	if p == nil {
		return nil
	}
	var req startRequest
	if err := json.Unmarshal(request, &req); err != nil || req.PaymentRequestID == "" {
		return nil
	}
	p.PaymentRequestID, p.PaymentID, p.Amount = req.PaymentRequestID, ans.PaymentID, req.PaymentAmount
	var explicit []string
	if api == "createPaymentSession" {
		explicit = []string{ans.PaymentSessionExpiryTime, req.PaymentSessionExpiryTime}
	}
	explicit = append(explicit, req.PaymentExpiryTime)
	for _, s := range explicit {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			p.ExpiresAt = t
			break
		}
	}
	if p.ExpiresAt.IsZero() {
		switch {
		case req.ProductCode == productCashier:
			p.ExpiresAt = now.Add(DefaultCashierExpiry)
		case req.ProductCode == productAgreement && api == "createPaymentSession":
			p.ExpiresAt = now.Add(DefaultEasySafePayExpiry)
		}
	}
	return p
}

// newRecord returns a record of api's call with what every kind has (profile, creation time,
// first inquiry, last result), or nil when Antom refused the call (F). A signed answer's JSON
// is decoded into ans (a missing field stays empty); an unsigned one is not believed.
func newRecord(profile, api string, answer *antom.Response, ans any, now time.Time, cfg Config) *outbox.Payment {
	outcome := "no trusted answer"
	if answer != nil {
		if answer.Result.ResultStatus == antom.StatusFail {
			return nil
		}
		outcome = answer.Result.ResultCode
		if answer.Signed {
			_ = json.Unmarshal(answer.Body, ans) // verified JSON
		}
	}
	return &outbox.Payment{
		Profile:     profile,
		CreatedAt:   now,
		NextInquiry: now.Add(cfg.WithDefaults().After),
		LastResult:  api + ": " + outcome,
	}
}
