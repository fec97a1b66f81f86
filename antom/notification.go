package antom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
)

// AckBody is the exact answer Antom requires (with HTTP 200) to count a
// notification as received. Anything else makes Antom retry.
var AckBody = []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}`)

// Notification is what the webhook needs to know about an Antom
// notification; the body itself is forwarded untouched.
type Notification struct {
	Family         string // the Catalogue family's Name
	Kind           string // one of the Kind* constants
	Type           string // notifyType, authorizationNotifyType, disputeNotificationType, ...
	ResultStatus   string // S, F or U from result (transferResult, paymentStatus); "" if absent
	ResultCode     string // result.resultCode ("" if absent)
	RequestID      string // the merchant's id for the operation, e.g. paymentRequestId
	RequestIDField string // the JSON field RequestID came from
	SubscriptionID string // subscriptionId of a subscription's period payment
	// PaymentID is paymentId as sent (any family: payment, capture, refund, dispute), "" if
	// absent; the events of one payment are delivered in the order they arrived.
	PaymentID string
	// DedupKey is the same for every retry of the same notification and
	// differs between distinct events (see Catalogue).
	DedupKey string
}

// PaymentResultDedupKey is the DedupKey a PAYMENT_RESULT notification for
// paymentID has, so that a final result learnt from inquiryPayment is
// deduplicated against the notification it stands in for.
func PaymentResultDedupKey(paymentID string) string {
	return "payment:" + paymentID + ":PAYMENT_RESULT"
}

// RefundResultDedupKey is the DedupKey of a final REFUND_RESULT notification for refundID,
// which a refund result learnt from inquiryRefund shares.
func RefundResultDedupKey(refundID string) string { return "refund:" + refundID }

// CaptureResultDedupKey is the DedupKey of a final CAPTURE_RESULT notification for captureID,
// which a capture result learnt from inquiryPayment shares.
func CaptureResultDedupKey(captureID string) string { return "capture:" + captureID }

// BodyDedupKey is the key of every notification without a provably unique id:
// a hash of the exact body bytes, which Antom's retries resend unchanged.
func BodyDedupKey(body []byte) string {
	sum := sha256.Sum256(body)
	return "body:" + hex.EncodeToString(sum[:])
}

// ParseNotification finds the Catalogue family of an Antom notification and
// derives its headers and dedup key. It fails only when body is not JSON;
// unrecognised shapes yield Kind "unknown" and the body key.
func ParseNotification(body []byte) (Notification, error) {
	if !json.Valid(body) {
		return Notification{}, errors.New("antom: notification body is not JSON")
	}
	n := Notification{Family: unknownFamily.Name, Kind: KindUnknown, DedupKey: BodyDedupKey(body)}
	var f fields
	if json.Unmarshal(body, &f) != nil || f == nil {
		return n, nil // not an object
	}
	fam := f.family()
	n.Family, n.Kind = fam.Name, fam.Kind
	n.Type = f.first(fam.TypeFields)
	for _, name := range fam.RequestIDFields {
		if id := f.str(name); id != "" {
			n.RequestID, n.RequestIDField = id, name
			break
		}
	}
	if fam.result != nil {
		n.ResultStatus, n.ResultCode = fam.result(f)
	} else {
		n.ResultStatus, n.ResultCode = f.result("result")
	}
	if fam.Kind == KindPayment {
		n.SubscriptionID = f.str("subscriptionId")
	}
	n.PaymentID = f.id("paymentId")
	if fam.idKey != nil {
		if key := fam.idKey(f, &n); key != "" {
			n.DedupKey = key
		}
	}
	return n, nil
}

// fields are the top-level members of a notification, as the raw JSON Antom sent.
type fields map[string]json.RawMessage

func (f fields) family() *Family {
	for i := range Catalogue {
		if Catalogue[i].match(f) {
			return &Catalogue[i]
		}
	}
	return &unknownFamily
}

// present reports whether member k is there and not null.
func (f fields) present(k string) bool {
	v, ok := f[k]
	return ok && !bytes.Equal(v, []byte("null"))
}

// has reports whether member k is a usable identifier (a non-empty string or a number); a member
// of another type tells nothing about the family.
func (f fields) has(k string) bool { return f.id(k) != "" }

// id returns member k as the exact bytes Antom sent: a string's bytes between the quotes (escapes
// and invalid UTF-8 as they are, so two ids that differ in any byte stay different) or a number's
// spelling; "" for any other type.
func (f fields) id(k string) string {
	v := bytes.TrimSpace(f[k])
	switch {
	case len(v) >= 2 && v[0] == '"':
		return string(v[1 : len(v)-1])
	case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
		return string(v)
	}
	return ""
}

// str returns member k decoded, for headers and classification (numbers keep their spelling); ""
// for any other type.
func (f fields) str(k string) string {
	v := bytes.TrimSpace(f[k])
	if len(v) > 0 && v[0] == '"' {
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	}
	return f.id(k)
}

// first returns the value of the first of names that is present.
func (f fields) first(names []string) string {
	for _, name := range names {
		if s := f.str(name); s != "" {
			return s
		}
	}
	return ""
}

// oneOf reports whether member k is one of values.
func (f fields) oneOf(k string, values ...string) bool {
	s := f.str(k)
	for _, v := range values {
		if s == v {
			return true
		}
	}
	return false
}

// result reads resultStatus and resultCode of the result object in member k.
func (f fields) result(k string) (status, code string) {
	var r fields
	if json.Unmarshal(f[k], &r) != nil {
		return "", ""
	}
	return r.str("resultStatus"), r.str("resultCode")
}
