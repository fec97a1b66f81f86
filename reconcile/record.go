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
// call did not start one. api is the API name ("pay", "createPaymentSession"); request is the
// exact body sent and answer Antom's verified answer.
//
// A payment is recorded only when Antom accepted the call in a signed answer: result S, and for
// pay also U with PAYMENT_IN_PROCESS (the payment exists and waits for the buyer). Refusals (F)
// start nothing; an unclear answer (other U, timeout) is the app's to retry with the same
// paymentRequestId, and the retry's answer records it.
//
// The expiry is the one the request or answer names (paymentSessionExpiryTime,
// paymentExpiryTime), else Antom's documented default: 14 minutes for CASHIER_PAYMENT, one hour
// for EasySafePay sessions. Other payments get no expiry: they are inquired about until final
// or GiveUp, and never cancelled.
func Started(profile, api string, request []byte, answer *antom.Response, now time.Time, cfg Config) *outbox.Payment {
	if answer == nil || !answer.Signed || (api != "pay" && api != "createPaymentSession") {
		return nil
	}
	switch r := answer.Result; {
	case r.ResultStatus == antom.StatusSuccess:
	case api == "pay" && r.ResultStatus == antom.StatusUnknown && r.ResultCode == "PAYMENT_IN_PROCESS":
	default:
		return nil
	}
	var req startRequest
	if err := json.Unmarshal(request, &req); err != nil || req.PaymentRequestID == "" {
		return nil
	}
	var ans startAnswer
	_ = json.Unmarshal(answer.Body, &ans) // verified JSON; a missing field stays empty

	cfg = cfg.WithDefaults()
	p := &outbox.Payment{
		Profile:          profile,
		PaymentRequestID: req.PaymentRequestID,
		PaymentID:        ans.PaymentID,
		Amount:           req.PaymentAmount,
		CreatedAt:        now,
		NextInquiry:      now.Add(cfg.After),
		LastResult:       api + ": " + answer.Result.ResultCode,
	}
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
