package simulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Amount is Antom's money object: value is in minor units as a decimal string ("1000" is
// 10.00 USD).
type Amount struct {
	Currency string `json:"currency"`
	Value    string `json:"value"`
}

// minorUnits validates a and returns its value. The error is a PARAM_ILLEGAL message naming
// the field.
func (a *Amount) minorUnits(field string) (int64, error) {
	if a == nil {
		return 0, fmt.Errorf("%s is required", field)
	}
	if len(a.Currency) != 3 || !isUpper(a.Currency) {
		return 0, fmt.Errorf("%s.currency %q is not an ISO 4217 code such as USD", field, a.Currency)
	}
	if a.Value == "" || len(a.Value) > 16 || !isDigits(a.Value) {
		return 0, fmt.Errorf("%s.value %q is not a positive whole number of minor units (\"1000\" is 10.00 USD)", field, a.Value)
	}
	v, err := strconv.ParseInt(a.Value, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s.value %q must be greater than zero", field, a.Value)
	}
	return v, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func isUpper(s string) bool {
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// checkID validates a merchant request id (idempotency key).
func checkID(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is required", field)
	case len(v) > 64:
		return fmt.Errorf("%s is longer than 64 characters", field)
	}
	return nil
}

// checkURL validates a notify or redirect URL given in a request.
func checkURL(field, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%s is required", field)
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an absolute http(s) URL", field, v)
	}
	if len(v) > 2048 {
		return fmt.Errorf("%s is longer than 2048 characters", field)
	}
	return nil
}

// parseExpiry reads an ISO-8601 expiry time from a request; "" means def after now.
func parseExpiry(field, v string, now time.Time, def time.Duration) (time.Time, error) {
	if v == "" {
		return now.Add(def), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not an ISO-8601 date-time such as 2024-01-01T12:00:00+08:00", field, v)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%s %q is not in the future", field, v)
	}
	return t, nil
}

// decode unmarshals a request body; the error is a PARAM_ILLEGAL message.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the request body is not valid JSON for this API: %v", err)
	}
	return nil
}

// Results used in several places.
var (
	resSuccess    = antom.Result{ResultCode: "SUCCESS", ResultStatus: "S", ResultMessage: "success"}
	resInProcess  = antom.Result{ResultCode: "PAYMENT_IN_PROCESS", ResultStatus: "U", ResultMessage: "payment in process"}
	resUnknownExc = antom.Result{ResultCode: "UNKNOWN_EXCEPTION", ResultStatus: "U", ResultMessage: "An API call has failed, which is caused by unknown reasons (simulated by the magic amount ending in 4002 or 4004)."}
	resNotExist   = antom.Result{ResultCode: "ORDER_NOT_EXIST", ResultStatus: "F", ResultMessage: "The order does not exist."}
	resRepeat     = antom.Result{ResultCode: "REPEAT_REQ_INCONSISTENT", ResultStatus: "F", ResultMessage: "The request id was used before with different key fields (amount, currency, payment or product)."}
)

func fail(code, message string) antom.Result {
	return antom.Result{ResultCode: code, ResultStatus: "F", ResultMessage: message}
}

func paramIllegal(err error) antom.Result {
	return fail("PARAM_ILLEGAL", "Illegal parameters: "+err.Error())
}

// onlyResult is the body of an answer that carries nothing but its result.
type onlyResult struct {
	Result antom.Result `json:"result"`
}

// paymentMethod is the part of paymentMethod the simulator reads. The metadata is decoded
// only for cards (checkCardRequest): other methods put other things there.
type paymentMethod struct {
	PaymentMethodType     string          `json:"paymentMethodType,omitempty"`
	PaymentMethodID       string          `json:"paymentMethodId,omitempty"`
	PaymentMethodMetaData json.RawMessage `json:"paymentMethodMetaData,omitempty"`
}

// payRequest is the union of what pay and createPaymentSession carry.
type payRequest struct {
	ProductCode              string        `json:"productCode"`
	ProductScene             string        `json:"productScene"`
	PaymentRequestID         string        `json:"paymentRequestId"`
	PaymentAmount            *Amount       `json:"paymentAmount"`
	PaymentMethod            paymentMethod `json:"paymentMethod"`
	PaymentRedirectURL       string        `json:"paymentRedirectUrl"`
	PaymentNotifyURL         string        `json:"paymentNotifyUrl"`
	PaymentExpiryTime        string        `json:"paymentExpiryTime"`
	PaymentSessionExpiryTime string        `json:"paymentSessionExpiryTime"`
	PaymentFactor            struct {
		InStorePaymentScenario string   `json:"inStorePaymentScenario"`
		IsAuthorization        flexBool `json:"isAuthorization"`
		CaptureMode            string   `json:"captureMode"`
	} `json:"paymentFactor"`
	Order struct {
		ReferenceOrderID string `json:"referenceOrderId"`
		OrderDescription string `json:"orderDescription"`
		Merchant         *store `json:"merchant"`
	} `json:"order"`
	AgreementInfo *struct {
		AuthState   string `json:"authState"`
		UserLoginID string `json:"userLoginId"`
	} `json:"agreementInfo"`
}

// paymentRef is how inquiryPayment and cancel name a payment.
type paymentRef struct {
	PaymentID        string `json:"paymentId"`
	PaymentRequestID string `json:"paymentRequestId"`
}
