package antom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
)

// Notification kinds returned in Notification.Kind.
const (
	KindPayment       = "payment"
	KindCapture       = "capture"
	KindRefund        = "refund"
	KindAuthorization = "authorization"
	KindDispute       = "dispute"
	KindSubscription  = "subscription"
	KindVaulting      = "vaulting"
	KindUnknown       = "unknown"
)

// AckBody is the exact answer Antom requires (with HTTP 200) to count a
// notification as received. Anything else makes Antom retry.
var AckBody = []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}`)

// Notification is what the webhook needs to know about an Antom
// notification; the body itself is forwarded untouched.
type Notification struct {
	Kind           string // one of the Kind* constants
	Type           string // notifyType, authorizationNotifyType, disputeNotificationType, ...
	ResultStatus   string // result.resultStatus ("" if absent)
	ResultCode     string // result.resultCode ("" if absent)
	RequestID      string // the merchant's id for the operation, e.g. paymentRequestId
	RequestIDField string // the JSON field RequestID came from
	// DedupKey is the same for every retry of the same notification and
	// differs between distinct events (e.g. PAYMENT_PENDING then
	// PAYMENT_RESULT for one payment); see protocol notes §5.
	DedupKey string
}

// PaymentResultDedupKey is the DedupKey a PAYMENT_RESULT notification for
// paymentID has, so that a final result learnt from inquiryPayment is
// deduplicated against the notification it stands in for.
func PaymentResultDedupKey(paymentID string) string {
	return "payment:" + paymentID + ":PAYMENT_RESULT"
}

// BodyDedupKey is the fallback dedup key: a hash of the exact body bytes.
func BodyDedupKey(body []byte) string {
	sum := sha256.Sum256(body)
	return "body:" + hex.EncodeToString(sum[:])
}

// ParseNotification classifies an Antom notification body and derives its
// dedup key. It fails only when body is not JSON; unknown shapes yield
// Kind "unknown" and the body-hash key.
func ParseNotification(body []byte) (Notification, error) {
	if !json.Valid(body) {
		return Notification{}, errors.New("antom: notification body is not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep numeric ids in their exact spelling
	var v any
	if err := dec.Decode(&v); err != nil {
		return Notification{}, errors.New("antom: notification body is not JSON")
	}
	n := Notification{Kind: KindUnknown, DedupKey: BodyDedupKey(body)}
	m, _ := v.(map[string]any)
	if m == nil {
		return n, nil
	}
	if r, ok := m["result"].(map[string]any); ok {
		n.ResultStatus = str(r, "resultStatus")
		n.ResultCode = str(r, "resultCode")
	}
	// key sets DedupKey from parts when the identifying field is present;
	// otherwise the body hash stays (retries resend the same bytes).
	key := func(id string, parts ...string) {
		if id == "" {
			return
		}
		k := n.Kind + ":" + id
		for _, p := range parts {
			k += ":" + p
		}
		n.DedupKey = k
	}
	reqID := func(fields ...string) {
		for _, f := range fields {
			if id := str(m, f); id != "" {
				n.RequestID, n.RequestIDField = id, f
				return
			}
		}
	}

	switch {
	case has(m, "authorizationNotifyType"):
		n.Kind, n.Type = KindAuthorization, str(m, "authorizationNotifyType")
		reqID("authState", "authClientId")
		// Tokens and auth codes are credentials: key on their hash, never the value.
		if t := str(m, "accessToken"); t != "" {
			key("token:"+shortHash(t), n.Type)
		} else if c := str(m, "authCode"); c != "" {
			key("code:"+shortHash(c), n.Type)
		}
	case has(m, "disputeNotificationType") || has(m, "disputeId"):
		n.Kind, n.Type = KindDispute, str(m, "disputeNotificationType")
		reqID("paymentRequestId", "disputeId")
		key(str(m, "disputeId"), n.Type)
	case has(m, "subscriptionNotificationType") || has(m, "subscriptionId"):
		n.Kind, n.Type = KindSubscription, str(m, "subscriptionNotificationType")
		reqID("subscriptionRequestId", "subscriptionId")
		key(str(m, "subscriptionId"), n.Type)
	case has(m, "vaultingRequestId"):
		n.Kind, n.Type = KindVaulting, str(m, "notifyType")
		reqID("vaultingRequestId")
		key(str(m, "vaultingRequestId"))
	case has(m, "notifyType"):
		n.Type = str(m, "notifyType")
		switch {
		case n.Type == "CAPTURE_RESULT" || (n.Type != "REFUND_RESULT" && has(m, "captureId") && !has(m, "refundId")):
			n.Kind = KindCapture
			reqID("captureRequestId")
			key(str(m, "captureId"))
		case n.Type == "REFUND_RESULT" || has(m, "refundId"):
			n.Kind = KindRefund
			reqID("refundRequestId")
			key(str(m, "refundId"))
		case has(m, "paymentId") || has(m, "paymentRequestId") || isPaymentType(n.Type):
			n.Kind = KindPayment
			reqID("paymentRequestId")
			if id := str(m, "paymentId"); id != "" {
				n.DedupKey = "payment:" + id + ":" + n.Type
			}
		}
	}
	return n, nil
}

func isPaymentType(t string) bool {
	switch t {
	case "PAYMENT_RESULT", "PAYMENT_PENDING", "OFFLINE_PAYMENT_CODE", "UPDATE_AMOUNT_RESULT":
		return true
	}
	return false
}

// has reports whether m[k] is a usable identifier; a field of the wrong
// type tells us nothing about the notification's kind.
func has(m map[string]any, k string) bool {
	return str(m, k) != ""
}

// str returns m[k] as a string; numbers keep their JSON spelling, anything
// else (objects, null) counts as absent.
func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
