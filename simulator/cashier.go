package simulator

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// BuyerAction is what the buyer does on the cashier page.
type BuyerAction string

// The buyer's choices on the cashier page (element ids and names "pay", "fail", "cancel").
const (
	// BuyerPay completes the payment: SUCCESS, PAYMENT_RESULT S (for an EasySafePay first
	// payment AUTHCODE_CREATED first).
	BuyerPay BuyerAction = "pay"
	// BuyerFail makes the payment fail: FAIL with PROCESS_FAIL, PAYMENT_RESULT F.
	BuyerFail BuyerAction = "fail"
	// BuyerCancel abandons it: CANCELLED with ORDER_IS_CLOSED, PAYMENT_RESULT F.
	BuyerCancel BuyerAction = "cancel"
)

// Payment is a snapshot of a payment, as listed by GET /simulator/payments.
type Payment struct {
	PaymentID        string    `json:"paymentId"`
	PaymentRequestID string    `json:"paymentRequestId"`
	ClientID         string    `json:"clientId"`
	ProductCode      string    `json:"productCode"`
	Amount           Amount    `json:"paymentAmount"`
	Status           string    `json:"paymentStatus"`
	ResultCode       string    `json:"paymentResultCode"`
	ResultMessage    string    `json:"paymentResultMessage"`
	ReferenceOrderID string    `json:"referenceOrderId,omitempty"`
	NormalURL        string    `json:"normalUrl,omitempty"`
	RedirectURL      string    `json:"paymentRedirectUrl,omitempty"`
	NotifyURL        string    `json:"paymentNotifyUrl,omitempty"`
	CreateTime       time.Time `json:"paymentCreateTime"`
	ExpiryTime       time.Time `json:"paymentExpiryTime,omitzero"`
	PaymentTime      time.Time `json:"paymentTime,omitzero"`
	CapturedValue    int64     `json:"capturedValue"` // minor units
	RefundedValue    int64     `json:"refundedValue"` // minor units
	AuthCode         string    `json:"authCode,omitempty"`
}

func (p *payment) snapshot() Payment {
	return Payment{
		PaymentID:        p.id,
		PaymentRequestID: p.requestID,
		ClientID:         p.clientID,
		ProductCode:      p.productCode,
		Amount:           p.amount,
		Status:           p.status,
		ResultCode:       p.resultCode,
		ResultMessage:    p.resultMessage,
		ReferenceOrderID: p.referenceOrderID,
		NormalURL:        p.normalURL,
		RedirectURL:      p.redirectURL,
		NotifyURL:        p.notifyURL,
		CreateTime:       p.created,
		ExpiryTime:       p.expires,
		PaymentTime:      p.paid,
		CapturedValue:    p.captured,
		RefundedValue:    p.refunded,
		AuthCode:         p.authCode,
	}
}

// Act does what the buyer would do on the cashier page of a payment waiting for the buyer.
// ref is a paymentRequestId or a paymentId. Repeating the action that already happened is a
// no-op; a different action on a final payment is an error.
func (s *Simulator) Act(ref string, action BuyerAction) (Payment, error) {
	return s.act("", ref, action)
}

func (s *Simulator) act(clientID, ref string, action BuyerAction) (Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.findLocked(clientID, ref)
	if err != nil {
		return Payment{}, err
	}
	err = s.actLocked(p, action, s.now())
	return p.snapshot(), err
}

// findLocked finds a payment by paymentId or paymentRequestId (of clientID, if given).
func (s *Simulator) findLocked(clientID, ref string) (*payment, error) {
	if p := s.state.payments[ref]; p != nil && (clientID == "" || p.clientID == clientID) {
		return p, nil
	}
	if clientID != "" {
		if p := s.state.paymentsByReq[reqKey(clientID, ref)]; p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("%w: no payment %q of client id %q", errNotFound, ref, clientID)
	}
	var found *payment
	for _, p := range s.state.payments {
		if p.requestID == ref {
			if found != nil {
				return nil, fmt.Errorf("%w: paymentRequestId %q is used by client ids %q and %q; add ?clientId=", errConflict, ref, found.clientID, p.clientID)
			}
			found = p
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no payment %q (simulator state is in memory: was it restarted?)", errNotFound, ref)
	}
	return found, nil
}

// actLocked applies a buyer action.
func (s *Simulator) actLocked(p *payment, action BuyerAction, now time.Time) error {
	s.expireLocked(p, now)
	var target string
	switch action {
	case BuyerPay:
		target = StatusSuccess
	case BuyerFail:
		target = StatusFail
	case BuyerCancel:
		target = StatusCancelled
	default:
		return fmt.Errorf("%w: unknown action %q (pay, fail or cancel)", errNotFound, action)
	}
	switch {
	case p.normalURL == "":
		return fmt.Errorf("%w: payment %s did not wait for a buyer (it was answered at once, %s)", errConflict, p.id, p.status)
	case p.status == target:
		return nil
	case p.status != StatusProcessing:
		return fmt.Errorf("%w: payment %s is already %s (%s)", errConflict, p.id, p.status, p.resultCode)
	}
	switch action {
	case BuyerFail:
		p.resultCode, p.resultMessage = "PROCESS_FAIL", "The payment failed: the buyer's payment method declined it (simulated)."
	case BuyerCancel:
		p.resultCode, p.resultMessage = "ORDER_IS_CLOSED", "The order is closed: the buyer cancelled the payment."
	}
	s.settleLocked(p, target, now)
	return nil
}

// serveCashier shows the hosted cashier page of a payment (its normalUrl).
func (s *Simulator) serveCashier(w http.ResponseWriter, r *http.Request) {
	s.renderCashier(w, r.PathValue("paymentId"), http.StatusOK, "")
}

// serveCashierAction handles the Pay / Fail / Cancel form and sends the buyer back to the
// merchant's paymentRedirectUrl, as Antom does (the redirect itself proves nothing).
func (s *Simulator) serveCashierAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	action := BuyerAction(r.PostFormValue("action"))
	for _, a := range []BuyerAction{BuyerPay, BuyerFail, BuyerCancel} {
		if r.PostForm.Has(string(a)) {
			action = a
		}
	}
	id := r.PathValue("paymentId")
	s.mu.Lock()
	p := s.state.payments[id]
	var err error
	var redirect string
	if p != nil {
		err = s.actLocked(p, action, s.now())
		redirect = p.redirectURL
	}
	s.mu.Unlock()
	switch {
	case p == nil:
		s.renderCashier(w, id, http.StatusNotFound, "")
	case err != nil:
		s.renderCashier(w, id, http.StatusConflict, strings.TrimPrefix(err.Error(), errConflict.Error()+": "))
	case redirect != "":
		http.Redirect(w, r, redirect, http.StatusSeeOther)
	default:
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
	}
}

// cashierPage is the data of the cashier template.
type cashierPage struct {
	Found       bool
	ID          string
	P           Payment
	Amount      string
	Waiting     bool
	EasySafePay bool
	Expires     string
	Notice      string
}

func (s *Simulator) renderCashier(w http.ResponseWriter, id string, status int, notice string) {
	page := cashierPage{ID: id, Notice: notice}
	s.mu.Lock()
	if p := s.state.payments[id]; p != nil {
		s.expireLocked(p, s.now())
		page.Found = true
		page.P = p.snapshot()
		page.Amount = formatAmount(p.amount)
		page.Waiting = p.status == StatusProcessing && p.normalURL != ""
		page.EasySafePay = p.productScene == sceneEasyPay
		page.Expires = iso(p.expires)
	}
	s.mu.Unlock()
	if !page.Found && status == http.StatusOK {
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = cashierTemplate.Execute(w, page)
}

// minorDigits are the currencies whose minor unit is not 1/100.
var minorDigits = map[string]int{
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
}

// formatAmount renders "1000" USD as "10.00 USD".
func formatAmount(a Amount) string {
	digits, ok := minorDigits[a.Currency]
	if !ok {
		digits = 2
	}
	v := a.Value
	if digits == 0 {
		return v + " " + a.Currency
	}
	if len(v) <= digits {
		v = strings.Repeat("0", digits-len(v)+1) + v
	}
	return v[:len(v)-digits] + "." + v[len(v)-digits:] + " " + a.Currency
}

var cashierTemplate = template.Must(template.New("cashier").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Antom simulator · cashier</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f6fa;color:#1d2330;margin:0;display:flex;justify-content:center;padding:3rem 1rem}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem;max-width:26rem;width:100%}
h1{font-size:1.1rem;margin:0 0 .25rem}
.sim{font-size:.8rem;color:#8a5a00;background:#fff4d6;border-radius:6px;padding:.4rem .6rem;margin:0 0 1.5rem}
.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;font-size:.85rem;margin:0 0 1.5rem}
dt{color:#667}dd{margin:0;word-break:break-all}
form{display:flex;gap:.5rem}
button{flex:1;font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #ccd;background:#fff;cursor:pointer}
#pay{background:#1677ff;border-color:#1677ff;color:#fff}
.status{font-weight:600}.notice{color:#b42318;margin:0 0 1rem}
</style>
</head>
<body>
<main>
<h1>Antom cashier</h1>
<p class="sim">Offline simulator (caddy-antom): no money moves.</p>
{{if not .Found}}
<p class="notice" id="not-found">Unknown payment {{.ID}}. The simulator keeps its state in memory: was it restarted?</p>
{{else}}
{{with .Notice}}<p class="notice" id="notice">{{.}}</p>{{end}}
<div class="amount" id="amount">{{.Amount}}</div>
<dl>
{{with .P.ReferenceOrderID}}<dt>Order</dt><dd id="order">{{.}}</dd>{{end}}
<dt>Payment</dt><dd id="payment-id">{{.P.PaymentID}}</dd>
<dt>Request</dt><dd id="payment-request-id">{{.P.PaymentRequestID}}</dd>
<dt>Status</dt><dd class="status" id="status">{{.P.Status}}</dd>
{{if .Waiting}}<dt>Expires</dt><dd id="expires">{{.Expires}}</dd>{{end}}
</dl>
{{if .Waiting}}
<form method="post">
<button type="submit" id="pay" name="pay" value="pay">{{if .EasySafePay}}Authorise &amp; pay{{else}}Pay{{end}}</button>
<button type="submit" id="fail" name="fail" value="fail">Fail</button>
<button type="submit" id="cancel" name="cancel" value="cancel">Cancel</button>
</form>
{{else}}
<p id="final">This payment is {{.P.Status}} ({{.P.ResultCode}}).{{with .P.RedirectURL}} <a id="back" href="{{.}}">Back to the merchant</a>{{end}}</p>
{{end}}
{{end}}
</main>
</body>
</html>
`))
