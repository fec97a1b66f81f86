package simulator

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strconv"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Payment statuses as inquiryPayment reports them.
const (
	StatusProcessing = "PROCESSING"
	StatusSuccess    = "SUCCESS"
	StatusFail       = "FAIL"
	StatusCancelled  = "CANCELLED"
)

// Default lifetimes of an unpaid payment when the request names none.
const (
	cashierExpiry     = 14 * time.Minute // CASHIER_PAYMENT (pay and createPaymentSession)
	easySafePayExpiry = time.Hour        // EasySafePay sessions, as Antom documents
	accessTokenLife   = 30 * 24 * time.Hour
	refreshTokenLife  = 365 * 24 * time.Hour
)

// isoLayout is how Antom writes date-times: ISO-8601 with a numeric offset.
const isoLayout = "2006-01-02T15:04:05-07:00"

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(isoLayout)
}

// state is everything the simulator remembers, guarded by Simulator.mu.
type state struct {
	payments      map[string]*payment    // by paymentId
	paymentsByReq map[string]*payment    // by clientId + paymentRequestId
	refunds       map[string]*refund     // by refundId (granted refunds only)
	refundsByReq  map[string]*refund     // by clientId + refundRequestId
	captures      map[string]*capture    // by captureId
	capturesByReq map[string]*capture    // by clientId + captureRequestId
	authCodes     map[string]*grant      // by authCode
	accessTokens  map[string]*grant      // by accessToken
	refreshTokens map[string]*grant      // by refreshToken
	cards         map[string]*storedCard // by cardToken
	notifications []*Notification
	seq           int
}

func newState() state {
	return state{
		payments:      map[string]*payment{},
		paymentsByReq: map[string]*payment{},
		refunds:       map[string]*refund{},
		refundsByReq:  map[string]*refund{},
		captures:      map[string]*capture{},
		capturesByReq: map[string]*capture{},
		authCodes:     map[string]*grant{},
		accessTokens:  map[string]*grant{},
		refreshTokens: map[string]*grant{},
		cards:         map[string]*storedCard{},
	}
}

// reqKey scopes a merchant request id to its client id: idempotency keys belong to a merchant.
func reqKey(clientID, requestID string) string { return clientID + "\x00" + requestID }

// payment is one paymentRequestId of one merchant.
type payment struct {
	id, requestID, clientID string
	api                     string // "pay" or "createPaymentSession"
	productCode             string // CASHIER_PAYMENT, AGREEMENT_PAYMENT or IN_STORE_PAYMENT
	productScene            string // EASY_PAY for EasySafePay sessions
	methodType              string // paymentMethod.paymentMethodType
	store                   *store // an entry-code payment's merchant and store
	card                    *cardPayment
	amount                  Amount
	minor                   int64
	referenceOrderID        string
	redirectURL, notifyURL  string
	created, expires        time.Time
	paid, cancelled         time.Time

	status                    string
	resultCode, resultMessage string // paymentResultCode / paymentResultMessage

	normalURL               string
	sessionID, sessionData  string
	sessionExpires          time.Time
	authState, userLoginID  string // EasySafePay first payment: agreementInfo
	authCode                string // issued when the buyer authorised (AUTHCODE_CREATED)
	accessToken             string // the token a token payment was made with
	captured, refunded      int64
	captureList, refundList []string // ids, in order
	magic                   magic
}

// txn is what a capture and a refund have in common: one request id of one merchant against
// one payment, granted (id set) or refused (refusal set). A refusal is final and kept, so that
// the same request id keeps getting the same answer.
type txn struct {
	id, requestID, clientID, paymentID string
	amount                             Amount
	minor                              int64
	created                            time.Time
	refusal                            *antom.Result
	magic                              magic
}

// refund is one refundRequestId of one merchant.
type refund struct {
	txn
	notifyURL string // refundNotifyUrl; REFUND_RESULT goes there
}

// capture is one captureRequestId of one merchant.
type capture struct{ txn }

// grant is an EasySafePay authorisation: an authCode, then the tokens applyToken issued for it.
type grant struct {
	clientID, userLoginID         string
	authCode                      string
	accessToken, refreshToken     string
	accessExpires, refreshExpires time.Time
}

// newID returns an Antom-looking id: 33 digits starting with the date, like
// 202401011940108001001881234567890.
func newID(t time.Time) string {
	return t.UTC().Format("20060102") + "1940108" + randDigits(18)
}

func randDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

// randToken returns n random bytes as unpadded URL-safe base64.
func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// nextSeq numbers notifications; callers hold mu.
func (st *state) nextSeq() string {
	st.seq++
	return "ntf_" + strconv.Itoa(st.seq)
}
