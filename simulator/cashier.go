package simulator

import (
	"errors"
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
	// PaymentMethodType is the request's paymentMethod.paymentMethodType.
	PaymentMethodType string `json:"paymentMethodType,omitempty"`
	// CardNo is a card payment's masked card number, once the card is known.
	CardNo string `json:"cardNo,omitempty"`
	// ThreeDS is a card payment's 3-D Secure: "challenge" while the buyer has not answered,
	// then "passed" or "failed".
	ThreeDS string `json:"threeDS,omitempty"`
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

		PaymentMethodType: p.methodType,
		CardNo:            p.maskedCard(),
		ThreeDS:           p.card.threeDSState(),
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
	case p.card != nil && action != BuyerCancel:
		s.cardActLocked(p, action == BuyerPay, now)
		return nil
	}
	switch {
	case action == BuyerPay && p.magic == magicBalance:
		target = StatusFail
		p.resultCode, p.resultMessage = "USER_BALANCE_NOT_ENOUGH", "The buyer's balance is not enough (simulated by the magic amount ending in 4006)."
	case action == BuyerFail:
		p.resultCode, p.resultMessage = "PROCESS_FAIL", "The payment failed: the buyer's payment method declined it (simulated)."
	case action == BuyerCancel:
		p.resultCode, p.resultMessage = "ORDER_IS_CLOSED", "The order is closed: the buyer cancelled the payment."
	}
	s.settleLocked(p, target, now)
	return nil
}

// serveCashier shows the hosted cashier page of a payment (its normalUrl): the wallet
// cashier, the wallet confirmation of an entry-code payment, or the card form.
func (s *Simulator) serveCashier(w http.ResponseWriter, r *http.Request) {
	s.renderPage(w, r.PathValue("paymentId"), http.StatusOK, "", cashierPage)
}

// serveCashierAction handles the Pay / Fail / Cancel form (Pay on the card form carries the
// card) and sends the buyer on: to the 3-D Secure challenge if the card needs it, else back
// to the merchant's paymentRedirectUrl, as Antom does (the redirect itself proves nothing).
func (s *Simulator) serveCashierAction(w http.ResponseWriter, r *http.Request) {
	if !parseSmallForm(w, r) {
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
	challenge := false
	if p != nil {
		if action == BuyerPay && p.card.wantsCard() && p.status == StatusProcessing {
			err = s.enterCardLocked(p, r.PostForm, s.now())
		} else {
			err = s.actLocked(p, action, s.now())
		}
		challenge = p.card != nil && p.card.challenge
	}
	s.mu.Unlock()
	switch {
	case p == nil:
		s.renderPage(w, id, http.StatusNotFound, "", cashierPage)
	case errors.Is(err, errCardForm):
		s.renderPage(w, id, http.StatusUnprocessableEntity, err.Error(), cashierPage)
	case err != nil:
		s.renderPage(w, id, http.StatusConflict, strings.TrimPrefix(err.Error(), errConflict.Error()+": "), cashierPage)
	case challenge:
		http.Redirect(w, r, "/cashier/"+id+"/3ds", http.StatusSeeOther)
	default:
		s.backToMerchant(w, r, p)
	}
}

// parseSmallForm parses a buyer's form post; false means it answered 400.
func parseSmallForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// backToMerchant sends the buyer to the payment's paymentRedirectUrl, or back to its page when
// the request named none (entry-code payments need not).
func (s *Simulator) backToMerchant(w http.ResponseWriter, r *http.Request, p *payment) {
	to := p.redirectURL // set at creation, never changed
	if to == "" {
		to = "/cashier/" + p.id
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// pageData is the data of the buyer's pages.
type pageData struct {
	Found       bool
	ID          string
	P           Payment
	Amount      string
	Waiting     bool   // the payment waits for this page's buttons
	EasySafePay bool   // the cashier authorises EasySafePay
	Payee       string // entry code: the wallet page names the store
	CardForm    bool   // hosted card payment: the page asks for the card
	Challenge   bool   // the payment waits for the 3-D Secure challenge
	Expires     string
	Notice      string
	TestCard    string
}

// renderPage renders a buyer's page (cashierPage or challengePage) of a payment.
func (s *Simulator) renderPage(w http.ResponseWriter, id string, status int, notice string, tmpl *template.Template) {
	page := pageData{ID: id, Notice: notice, TestCard: TestCardNumber}
	s.mu.Lock()
	if p := s.state.payments[id]; p != nil {
		s.expireLocked(p, s.now())
		page.Found = true
		page.P = p.snapshot()
		page.Amount = formatAmount(p.amount)
		page.Challenge = p.status == StatusProcessing && p.card != nil && p.card.challenge
		page.Waiting = p.status == StatusProcessing && p.normalURL != "" && !page.Challenge
		page.EasySafePay = p.productScene == sceneEasyPay
		page.Payee = p.store.name()
		if page.Payee == "" && p.productCode == productInStore {
			page.Payee = "the store"
		}
		page.CardForm = p.card.wantsCard()
		page.Expires = iso(p.expires)
	}
	s.mu.Unlock()
	if !page.Found && status == http.StatusOK {
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = tmpl.Execute(w, page)
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

// pageLayout is the frame of the buyer's pages; each page defines "main".
var pageLayout = template.Must(template.New("layout").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Antom simulator · {{template "title" .}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f6fa;color:#1d2330;margin:0;display:flex;justify-content:center;padding:3rem 1rem}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem;max-width:26rem;width:100%}
h1{font-size:1.1rem;margin:0 0 .25rem}
.sim{font-size:.8rem;color:#8a5a00;background:#fff4d6;border-radius:6px;padding:.4rem .6rem;margin:0 0 1.5rem}
.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;font-size:.85rem;margin:0 0 1.5rem}
dt{color:#667}dd{margin:0;word-break:break-all}
form{display:flex;gap:.5rem;flex-wrap:wrap}
label{flex:1 1 100%;font-size:.85rem;color:#667}input{display:block;width:100%;box-sizing:border-box;font-size:1rem;padding:.5rem;margin-top:.2rem;border:1px solid #ccd;border-radius:6px}
label.half{flex:1 1 40%}
button{flex:1;font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #ccd;background:#fff;cursor:pointer}
#pay,#pass{background:#1677ff;border-color:#1677ff;color:#fff}
.status{font-weight:600}.notice{color:#b42318;margin:0 0 1rem}.hint{font-size:.8rem;color:#667}
</style>
</head>
<body>
<main>
<p class="sim">Offline simulator (caddy-antom): no money moves.</p>
{{if not .Found}}
<p class="notice" id="not-found">Unknown payment {{.ID}}. The simulator keeps its state in memory: was it restarted?</p>
{{else}}
{{with .Notice}}<p class="notice" id="notice">{{.}}</p>{{end}}
{{template "main" .}}
{{end}}
</main>
</body>
</html>
`))

// page adds a page's "title" and "main" to the layout.
func page(defs string) *template.Template {
	return template.Must(template.Must(pageLayout.Clone()).Parse(defs))
}

// cashierPage is the normalUrl of a payment waiting for the buyer: the wallet cashier, the
// wallet confirmation of an entry-code payment or the card form of a hosted card payment.
var cashierPage = page(`{{define "title"}}{{if .Payee}}wallet{{else if .CardForm}}card payment{{else}}cashier{{end}}{{end}}
{{define "main"}}
<h1>{{if .Payee}}Wallet · pay {{.Payee}}{{else if .CardForm}}Card payment{{else}}Antom cashier{{end}}</h1>
<div class="amount" id="amount">{{.Amount}}</div>
<dl>
{{with .P.ReferenceOrderID}}<dt>Order</dt><dd id="order">{{.}}</dd>{{end}}
{{if .Payee}}<dt>Payee</dt><dd id="payee">{{.Payee}}</dd>{{end}}
<dt>Payment</dt><dd id="payment-id">{{.P.PaymentID}}</dd>
<dt>Request</dt><dd id="payment-request-id">{{.P.PaymentRequestID}}</dd>
{{with .P.CardNo}}<dt>Card</dt><dd id="card">{{.}}</dd>{{end}}
<dt>Status</dt><dd class="status" id="status">{{.P.Status}}</dd>
{{if .Waiting}}<dt>Expires</dt><dd id="expires">{{.Expires}}</dd>{{end}}
</dl>
{{if and .Waiting .CardForm}}
<form method="post" autocomplete="off">
<label>Card number<input id="card-number" name="cardNo" inputmode="numeric" autocomplete="off" required></label>
<label class="half">Expiry (MM/YY)<input id="expiry" name="expiry" placeholder="12/29" autocomplete="off" required></label>
<label class="half">CVV<input id="cvv" name="cvv" inputmode="numeric" autocomplete="off" required></label>
<label>Cardholder<input id="holder" name="holder" autocomplete="off"></label>
<button type="submit" id="pay" name="pay" value="pay">Pay</button>
<button type="submit" id="cancel" name="cancel" value="cancel" formnovalidate>Cancel</button>
</form>
<p class="hint">Test cards: {{.TestCard}} pays; see the simulator's README for declines and 3-D Secure.</p>
{{else if .Waiting}}
<form method="post">
<button type="submit" id="pay" name="pay" value="pay">{{if .EasySafePay}}Authorise &amp; pay{{else if .Payee}}Confirm payment{{else}}Pay{{end}}</button>
<button type="submit" id="fail" name="fail" value="fail">Fail</button>
<button type="submit" id="cancel" name="cancel" value="cancel">Cancel</button>
</form>
{{else if .Challenge}}
<p id="final"><a id="challenge" href="/cashier/{{.P.PaymentID}}/3ds">Continue to 3-D Secure</a></p>
{{else}}
<p id="final">This payment is {{.P.Status}} ({{.P.ResultCode}}).{{with .P.RedirectURL}} <a id="back" href="{{.}}">Back to the merchant</a>{{end}}</p>
{{end}}
{{end}}`)

// challengePage is the (simulated) card issuer's 3-D Secure challenge.
var challengePage = page(`{{define "title"}}3-D Secure{{end}}
{{define "main"}}
<h1>3-D Secure · your card issuer</h1>
<div class="amount" id="amount">{{.Amount}}</div>
<dl>
<dt>Card</dt><dd id="card">{{.P.CardNo}}</dd>
<dt>Payment</dt><dd id="payment-id">{{.P.PaymentID}}</dd>
<dt>Status</dt><dd class="status" id="status">{{.P.Status}}</dd>
</dl>
{{if .Challenge}}
<form method="post">
<button type="submit" id="pass" name="pass" value="pass">Pass</button>
<button type="submit" id="fail" name="fail" value="fail">Fail</button>
</form>
{{else}}
<p id="final">This payment is {{.P.Status}} ({{.P.ResultCode}}).{{with .P.RedirectURL}} <a id="back" href="{{.}}">Back to the merchant</a>{{end}}</p>
{{end}}
{{end}}`)
