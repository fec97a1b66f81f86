package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Card payments (Antom's authorisation payment): pay with productCode CASHIER_PAYMENT,
// paymentMethod.paymentMethodType CARD and paymentFactor.isAuthorization true, in one of three
// ways:
//   - server to server: the card in paymentMethod.paymentMethodMetaData (cardNo, cvv,
//     expiryYear, expiryMonth, cardholderName, billingAddress); the merchant is in PCI scope;
//   - card token: paymentMethod.paymentMethodId = the cardToken of an earlier card payment;
//   - hosted: neither; the buyer types the card into the simulator's card form (normalUrl).
//
// 3-D Secure, asked with paymentMethodMetaData.is3DSAuthentication or required by the card
// (Antom then upgrades the payment unless enableAuthenticationUpgrade is false), sends the
// buyer to a challenge page first (threeds.go). The authorisation is then captured at once
// (paymentFactor.captureMode AUTOMATIC or empty, Antom's default) or by the capture API
// (MANUAL).
//
// The simulator never keeps or logs a card number, CVV or expiry: a card is reduced at once to
// what results show (brand, BIN, last four digits) and the magic behaviour of its number.

const methodCard = "CARD"

// Capture modes of paymentFactor.captureMode.
const (
	captureAutomatic = "AUTOMATIC"
	captureManual    = "MANUAL"
)

// cardBehaviour is what the issuer does with a card, chosen by a magic card number.
type cardBehaviour int

const (
	cardApproved cardBehaviour = iota
	cardDeclined               // DO_NOT_HONOR
	cardNoFunds                // USER_BALANCE_NOT_ENOUGH
	cardNeeds3DS               // the issuer requires 3-D Secure
	cardMismatch               // authorised, but AVS and CVV checks do not match
)

// magicCards are the card numbers with a behaviour; any other number that passes the Luhn
// check is approved. Documented in README.md.
var magicCards = map[string]cardBehaviour{
	"4000000000000002": cardDeclined,
	"4000000000009995": cardNoFunds,
	"4000000000003220": cardNeeds3DS,
	"4000000000000101": cardMismatch,
}

// TestCardNumber is an approved Visa test number: the card the buyer "enters" when a hosted
// card payment is paid with Act or POST /simulator/payments/{ref}/pay.
const TestCardNumber = "4111111111111111"

// flexBool reads a JSON boolean that SDKs send as true or "true".
type flexBool struct{ set, value bool }

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch strings.Trim(string(data), `"`) {
	case "true":
		*b = flexBool{true, true}
	case "false":
		*b = flexBool{true, false}
	case "null", "":
	default:
		return fmt.Errorf("%s is not true or false", data)
	}
	return nil
}

// cardMeta is the card part of paymentMethod.paymentMethodMetaData.
type cardMeta struct {
	CardNo                      string          `json:"cardNo"`
	CVV                         string          `json:"cvv"`
	ExpiryYear                  string          `json:"expiryYear"`
	ExpiryMonth                 string          `json:"expiryMonth"`
	BillingAddress              json.RawMessage `json:"billingAddress"`
	Is3DSAuthentication         flexBool        `json:"is3DSAuthentication"`
	EnableAuthenticationUpgrade flexBool        `json:"enableAuthenticationUpgrade"`
}

// storedCard is what the simulator keeps of a card, under its cardToken: never the number,
// the CVV or the expiry.
type storedCard struct {
	token, clientID string
	brand           string
	bin, last4      string
	behaviour       cardBehaviour
	avsChecked      bool // a billing address was given, so AVS ran
}

// cardPayment is the card side of a payment.
type cardPayment struct {
	card          *storedCard // nil while a hosted payment waits for the buyer's card
	want3DS       bool        // is3DSAuthentication
	noUpgrade     bool        // enableAuthenticationUpgrade false: no 3-D Secure unless asked
	manualCapture bool
	hosted        bool
	challenge     bool           // waiting on the 3-D Secure challenge page
	threeDS       *threeDSResult // the passed (or failed) challenge
	networkTxnID  string
}

// checkCardRequest checks the card fields of a pay request that PARAM_ILLEGAL refuses before
// any payment exists. It returns the card metadata, nil for a token or hosted payment.
func checkCardRequest(req *payRequest) (*cardMeta, error) {
	f := req.PaymentFactor
	if !f.IsAuthorization.value {
		return nil, errors.New("paymentFactor.isAuthorization must be true for card payments (Antom authorises cards, then captures)")
	}
	switch f.CaptureMode {
	case "", captureAutomatic, captureManual:
	default:
		return nil, fmt.Errorf("paymentFactor.captureMode %q is not AUTOMATIC or MANUAL", f.CaptureMode)
	}
	meta := &cardMeta{}
	if len(req.PaymentMethod.PaymentMethodMetaData) > 0 {
		if err := json.Unmarshal(req.PaymentMethod.PaymentMethodMetaData, meta); err != nil {
			// The decoder's message may quote the value: never echo card data.
			return nil, errors.New("paymentMethod.paymentMethodMetaData does not have the card fields' types (strings, and booleans for is3DSAuthentication and enableAuthenticationUpgrade)")
		}
	}
	if meta.CardNo == "" {
		if meta.CVV != "" || meta.ExpiryYear != "" || meta.ExpiryMonth != "" {
			return nil, errors.New("paymentMethod.paymentMethodMetaData.cardNo is required with the other card fields")
		}
		return nil, nil
	}
	if req.PaymentMethod.PaymentMethodID != "" {
		return nil, errors.New("give either paymentMethod.paymentMethodId (a card token) or the card in paymentMethodMetaData, not both")
	}
	switch {
	case len(meta.CardNo) < 12 || len(meta.CardNo) > 19 || !isDigits(meta.CardNo):
		return nil, errors.New("paymentMethod.paymentMethodMetaData.cardNo must be 12 to 19 digits, without spaces")
	case len(meta.CVV) < 3 || len(meta.CVV) > 4 || !isDigits(meta.CVV):
		return nil, errors.New("paymentMethod.paymentMethodMetaData.cvv must be 3 or 4 digits")
	}
	if _, err := expiryEnd(meta.ExpiryMonth, meta.ExpiryYear); err != nil {
		return nil, err
	}
	return meta, nil
}

// expiryEnd returns the first instant after a card's expiry month.
func expiryEnd(month, year string) (time.Time, error) {
	m, err := strconv.Atoi(month)
	if err != nil || len(month) != 2 || m < 1 || m > 12 {
		return time.Time{}, errors.New("paymentMethod.paymentMethodMetaData.expiryMonth must be two digits, 01 to 12")
	}
	y, err := strconv.Atoi(year)
	switch {
	case err != nil || (len(year) != 2 && len(year) != 4):
		return time.Time{}, errors.New("paymentMethod.paymentMethodMetaData.expiryYear must be two or four digits, such as 29 or 2029")
	case len(year) == 2:
		y += 2000
	}
	return time.Date(y, time.Month(m)+1, 1, 0, 0, 0, 0, time.UTC), nil
}

// cardBrand names the scheme of a card number as Antom's cardBrand does.
func cardBrand(number string) string {
	switch {
	case strings.HasPrefix(number, "4"):
		return "VISA"
	case number[0] == '5' && number[1] >= '1' && number[1] <= '5', strings.HasPrefix(number, "2"):
		return "MASTERCARD"
	case strings.HasPrefix(number, "34"), strings.HasPrefix(number, "37"):
		return "AMEX"
	case strings.HasPrefix(number, "35"):
		return "JCB"
	}
	return "UNKNOWN"
}

// cardRefusal is the final refusal of a card the issuer never sees: a number that fails the
// Luhn check, or an expired card.
func cardRefusal(number, month, year string, now time.Time) (code, message string) {
	if !antom.LuhnValid(number) {
		return "INVALID_CARD_NUMBER", "The card number is invalid: it fails the Luhn check."
	}
	if end, _ := expiryEnd(month, year); !now.Before(end) {
		return "CARD_EXPIRED", "The card has expired."
	}
	return "", ""
}

// storeCardLocked reduces a card to what the simulator keeps, under a new cardToken.
func (s *Simulator) storeCardLocked(clientID, number string, billingAddress bool) *storedCard {
	c := &storedCard{
		token:      "SIM_CARD_" + randToken(24),
		clientID:   clientID,
		brand:      cardBrand(number),
		bin:        number[:6],
		last4:      number[len(number)-4:],
		behaviour:  magicCards[number],
		avsChecked: billingAddress,
	}
	s.state.cards[c.token] = c
	return c
}

// startCardLocked runs a new card payment as far as it goes without the buyer: a hosted one
// waits for the card form, the others are authenticated (3-D Secure) or authorised at once.
func (s *Simulator) startCardLocked(p *payment, req *payRequest, meta *cardMeta, base string, now time.Time) {
	cp := &cardPayment{manualCapture: req.PaymentFactor.CaptureMode == captureManual}
	p.card = cp
	if meta == nil {
		meta = &cardMeta{}
		_ = json.Unmarshal(req.PaymentMethod.PaymentMethodMetaData, meta) // checked by checkCardRequest
	}
	cp.want3DS, cp.noUpgrade = meta.Is3DSAuthentication.value, meta.EnableAuthenticationUpgrade.set && !meta.EnableAuthenticationUpgrade.value
	switch token := req.PaymentMethod.PaymentMethodID; {
	case token != "":
		c := s.state.cards[token]
		if c == nil || c.clientID != p.clientID {
			p.status = StatusFail
			p.resultCode, p.resultMessage = "INVALID_CARD", "The card token is unknown: use the cardToken of an earlier card payment's paymentResultInfo (simulator state is in memory)."
			return
		}
		cp.card = c
	case meta.CardNo != "":
		if code, msg := cardRefusal(meta.CardNo, meta.ExpiryMonth, meta.ExpiryYear, now); code != "" {
			p.status = StatusFail
			p.resultCode, p.resultMessage = code, msg
			return
		}
		cp.card = s.storeCardLocked(p.clientID, meta.CardNo, len(meta.BillingAddress) > 0)
	default:
		cp.hosted = true
		p.normalURL = base + "/cashier/" + p.id
		return
	}
	s.authenticateCardLocked(p, base, now)
}

// authenticateCardLocked sends a card payment whose card is known to 3-D Secure when it
// needs it, else authorises it.
func (s *Simulator) authenticateCardLocked(p *payment, base string, now time.Time) {
	cp := p.card
	needs3DS := cp.card.behaviour == cardNeeds3DS
	switch {
	case cp.want3DS || (needs3DS && !cp.noUpgrade):
		cp.challenge = true
		p.normalURL = base + "/cashier/" + p.id + "/3ds"
	case needs3DS:
		p.resultCode, p.resultMessage = "ISSUER_REJECTS_TRANSACTION", "The issuer rejects the transaction: it requires 3-D Secure, and enableAuthenticationUpgrade is false (send is3DSAuthentication true)."
		s.settleLocked(p, StatusFail, now)
	default:
		s.authoriseCardLocked(p, now)
	}
}

// authoriseCardLocked asks the (simulated) issuer and settles the payment; an approved
// authorisation with automatic capture is captured at once.
func (s *Simulator) authoriseCardLocked(p *payment, now time.Time) {
	cp := p.card
	cp.networkTxnID = randDigits(15)
	switch cp.card.behaviour {
	case cardDeclined:
		p.resultCode, p.resultMessage = "DO_NOT_HONOR", "The issuer declined the card (do not honor)."
	case cardNoFunds:
		p.resultCode, p.resultMessage = "USER_BALANCE_NOT_ENOUGH", "The card's available balance is not enough for this payment."
	default:
		s.settleLocked(p, StatusSuccess, now)
		return
	}
	s.settleLocked(p, StatusFail, now)
}

// autoCaptureLocked captures an approved authorisation whole, as Antom does for captureMode
// AUTOMATIC, and notifies CAPTURE_RESULT after the payment's PAYMENT_RESULT.
func (s *Simulator) autoCaptureLocked(p *payment, after *Notification, now time.Time) {
	k := &capture{txn{
		id:        newID(now),
		requestID: "AUTO_CAPTURE_" + p.id,
		clientID:  p.clientID,
		paymentID: p.id,
		amount:    p.amount,
		minor:     p.minor,
		created:   now,
	}}
	s.grantCaptureLocked(p, k, after)
}

// resultInfo is paymentResultInfo: what a card payment's answer, notification and inquiry
// say about the card and its checks.
type resultInfo struct {
	CardNo               string         `json:"cardNo"` // masked
	CardBrand            string         `json:"cardBrand"`
	CardToken            string         `json:"cardToken"`
	CardBin              string         `json:"cardBin"`
	LastFour             string         `json:"lastFour"`
	IssuingCountry       string         `json:"issuingCountry"`
	Funding              string         `json:"funding"`
	PaymentMethodRegion  string         `json:"paymentMethodRegion"`
	AvsResultRaw         string         `json:"avsResultRaw,omitempty"`
	CvvResultRaw         string         `json:"cvvResultRaw,omitempty"`
	NetworkTransactionID string         `json:"networkTransactionId,omitempty"`
	ThreeDSResult        *threeDSResult `json:"threeDSResult,omitempty"`
}

// cardInfo is the cardInfo of PAYMENT_RESULT and inquiryPayment: the card and its token.
type cardInfo struct {
	CardNo         string         `json:"cardNo"`
	CardBrand      string         `json:"cardBrand"`
	CardToken      string         `json:"cardToken"`
	IssuingCountry string         `json:"issuingCountry"`
	Funding        string         `json:"funding"`
	ThreeDSResult  *threeDSResult `json:"threeDSResult,omitempty"`
}

// masked is the card number as results show it: BIN, stars, last four.
func (c *storedCard) masked() string { return c.bin + "******" + c.last4 }

// resultInfo renders paymentResultInfo, or nil for a payment without a card (yet).
func (p *payment) resultInfo() *resultInfo {
	if p.card == nil || p.card.card == nil {
		return nil
	}
	cp, c := p.card, p.card.card
	ri := &resultInfo{
		CardNo: c.masked(), CardBrand: c.brand, CardToken: c.token, CardBin: c.bin, LastFour: c.last4,
		IssuingCountry: "US", Funding: "CREDIT", PaymentMethodRegion: "US",
		NetworkTransactionID: cp.networkTxnID,
		ThreeDSResult:        cp.threeDS,
	}
	if cp.networkTxnID != "" { // the issuer saw it: the checks ran
		ri.AvsResultRaw, ri.CvvResultRaw = "Y", "M"
		if c.behaviour == cardMismatch {
			ri.AvsResultRaw, ri.CvvResultRaw = "N", "N"
		}
		if !c.avsChecked {
			ri.AvsResultRaw = "U" // no billing address: AVS unavailable
		}
	}
	return ri
}

// maskedCard is the masked number of a card payment's card, "" if none.
func (p *payment) maskedCard() string {
	if p.card == nil || p.card.card == nil {
		return ""
	}
	return p.card.card.masked()
}

// cashierBase is the base URL of a hosted payment's links, from its card form's URL.
func (p *payment) cashierBase() string { return strings.TrimSuffix(p.normalURL, "/cashier/"+p.id) }

// cardInfo renders cardInfo, or nil for a payment without a card (yet).
func (p *payment) cardInfo() *cardInfo {
	ri := p.resultInfo()
	if ri == nil {
		return nil
	}
	return &cardInfo{ri.CardNo, ri.CardBrand, ri.CardToken, ri.IssuingCountry, ri.Funding, ri.ThreeDSResult}
}

// wantsCard reports whether a hosted card payment still waits for the buyer's card.
func (cp *cardPayment) wantsCard() bool { return cp != nil && cp.hosted && cp.card == nil }

// threeDSState is Payment.ThreeDS.
func (cp *cardPayment) threeDSState() string {
	switch {
	case cp == nil:
		return ""
	case cp.challenge:
		return "challenge"
	case cp.threeDS == nil:
		return ""
	case cp.threeDS.CAVV != "":
		return "passed"
	}
	return "failed"
}

// cardActLocked does what the buyer does on a waiting card payment, for Act and the control
// endpoint: pay (enter the approved test card if the form waits for one, pass 3-D Secure) or
// fail (fail 3-D Secure, or abandon the form as declined).
func (s *Simulator) cardActLocked(p *payment, pay bool, now time.Time) {
	cp := p.card
	switch {
	case pay && cp.card == nil:
		cp.card = s.storeCardLocked(p.clientID, TestCardNumber, false)
		s.authenticateCardLocked(p, p.cashierBase(), now)
		if cp.challenge {
			s.challengeLocked(p, true, now)
		}
	case cp.challenge:
		s.challengeLocked(p, pay, now)
	default:
		p.resultCode, p.resultMessage = "PROCESS_FAIL", "The payment failed: the buyer gave up on the card form (simulated)."
		s.settleLocked(p, StatusFail, now)
	}
}

// errCardForm marks a card the form refuses; its text is shown to the buyer.
var errCardForm = errors.New("card form")

// enterCardLocked takes the card the buyer typed into the hosted form: refused at once if it
// cannot be a card, else kept (reduced, as always) and authenticated or authorised.
func (s *Simulator) enterCardLocked(p *payment, form map[string][]string, now time.Time) error {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	number := strings.NewReplacer(" ", "", "-", "").Replace(get("cardNo"))
	month, year, _ := strings.Cut(get("expiry"), "/")
	month, year = strings.TrimSpace(month), strings.TrimSpace(year)
	refuse := func(msg string) error { return fmt.Errorf("%w: %s", errCardForm, msg) }
	switch {
	case len(number) < 12 || len(number) > 19 || !isDigits(number) || !antom.LuhnValid(number):
		return refuse("The card number is not valid.")
	case len(get("cvv")) < 3 || len(get("cvv")) > 4 || !isDigits(get("cvv")):
		return refuse("The CVV is 3 or 4 digits.")
	}
	if _, err := expiryEnd(month, year); err != nil {
		return refuse("The expiry is MM/YY, such as 12/29.")
	}
	if code, _ := cardRefusal(number, month, year, now); code != "" {
		return refuse("The card has expired.")
	}
	p.card.card = s.storeCardLocked(p.clientID, number, false)
	s.authenticateCardLocked(p, p.cashierBase(), now)
	return nil
}
