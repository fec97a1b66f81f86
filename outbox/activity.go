package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

// Activity is the metadata of something that happened to a payment besides its stored events:
// an API call through antom_api, an inquiry of the reconciliation, a notification that was
// rejected or received again. It never holds a body, card data or a secret.
type Activity struct {
	// ID is random ("act_" and 32 hex digits): a record stored under several of its ids is
	// one activity.
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	What string    `json:"what"` // ActivityAPICall, ActivityInquiry, ActivityRejected or ActivityDuplicate
	// Profile is the antom profile of the handler or worker that recorded it.
	Profile string `json:"profile,omitempty"`
	// API is the Antom API path called, e.g. v1/payments/refund.
	API string `json:"api,omitempty"`
	// IDs are the ids the activity names, by their Antom field name: paymentRequestId,
	// paymentId, refundRequestId, captureRequestId, refundId, captureId. It is found by each.
	IDs map[string]string `json:"ids"`
	// Unverified marks ids claimed by a notification whose signature was not verified.
	Unverified bool `json:"unverified,omitempty"`
	// Status is the HTTP status: antom_api's answer to the app, Antom's answer to an inquiry,
	// the one a rejected notification got.
	Status int `json:"status,omitempty"`
	// Result is Antom's result (resultStatus and resultCode, or a payment status), or why a
	// notification was rejected.
	Result  string        `json:"result,omitempty"`
	Latency time.Duration `json:"latency,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	// Remote is the sender's address, for rejected notifications.
	Remote string `json:"remote,omitempty"`
}

// Activity kinds.
const (
	ActivityAPICall   = "api_call"               // a call to Antom through antom_api (or the reconciliation's cancel)
	ActivityInquiry   = "inquiry_call"           // an inquiryPayment of the reconciliation
	ActivityRejected  = "notification_rejected"  // a notification that was not accepted
	ActivityDuplicate = "notification_duplicate" // a notification received again (Antom's retry)
)

// ActivityIDFields are the id fields an Activity may name, in the order timelines show them.
var ActivityIDFields = []string{"paymentRequestId", "paymentId", "refundRequestId", "refundId", "captureRequestId", "captureId"}

// maxActivityID bounds the length of an id an activity keeps: Antom's ids are at most 64
// characters, and a rejected notification's ids come from anyone.
const maxActivityID = 128

// NewActivity returns an activity of kind what at at, with a new random ID and no ids.
func NewActivity(what string, at time.Time) *Activity {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &Activity{ID: "act_" + hex.EncodeToString(b[:]), At: at, What: what, IDs: map[string]string{}}
}

// Name records that the activity names id in field; empty and oversized ids are left out.
func (a *Activity) Name(field, id string) {
	if id != "" && len(id) <= maxActivityID && !strings.ContainsFunc(id, isControl) {
		a.IDs[field] = id
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ValidActivityID reports whether id has the form NewActivity produces.
func ValidActivityID(id string) bool { return validHashID("act_", id) }

// SortActivities sorts activities oldest first.
func SortActivities(acts []*Activity) {
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].At.Before(acts[j].At) })
}
