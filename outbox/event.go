// Package outbox is what the event stores of caddy-antom share: the records (events, payments
// under reconciliation, timeline activities), the EventStore contract every store keeps
// (contract.go) and what is built on it alone (timelines, redrive). The stores themselves are
// in outbox/sqlstore (SQLite, the default, and PostgreSQL); outbox/filestore reads the retired
// file store's tree for copy-store.
//
// An event is persisted before Antom is acknowledged and stays pending until it is delivered to
// the merchant's app or given up on (dead). Delivered and dead events are kept for a retention
// period so that a notification Antom sends again is recognised as a duplicate. The guarantee
// is at-least-once delivery with a stable webhook id (the event ID).
package outbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// State is where an event or payment is in its life cycle.
type State string

// Event states.
const (
	StatePending   State = "pending"   // waiting for (or in) delivery
	StateDelivered State = "delivered" // the app answered 2xx
	StateDead      State = "dead"      // gave up after max_age; replayable
)

// Event sources.
const (
	SourceNotification = "notification" // a verified notification from Antom
	SourceInquiry      = "inquiry"      // an inquiryPayment result standing in for a lost notification
)

// Event is one notification (or inquiry result) on its way to the
// merchant's app. It never holds secrets: routes are referred to by id.
type Event struct {
	// ID is the Standard Webhooks webhook-id, EventID(Profile, DedupKey).
	ID string `json:"id"`
	// Profile is the antom profile the notification belongs to.
	Profile string `json:"profile"`
	// Route is the delivery route id (delivery.RouteID), not the URL or secret.
	Route string `json:"route"`
	// Source is SourceNotification or SourceInquiry.
	Source string `json:"source"`

	Kind           string `json:"kind,omitempty"`           // e.g. notifyType, disputeNotificationType
	Type           string `json:"type,omitempty"`           // e.g. PAYMENT_RESULT
	ResultStatus   string `json:"resultStatus,omitempty"`   // S, F, U
	RequestIDField string `json:"requestIdField,omitempty"` // e.g. paymentRequestId
	RequestID      string `json:"requestId,omitempty"`
	SubscriptionID string `json:"subscriptionId,omitempty"` // a subscription's period payment
	DedupKey       string `json:"dedupKey"`
	// OrderKey groups the events that must reach the app in the order received (those of one
	// payment: "payment:<paymentId>"); "" for none.
	OrderKey string `json:"orderKey,omitempty"`

	// Body is the exact bytes Antom sent. It is stored base64-encoded so it
	// round-trips byte for byte, whatever whitespace or encoding it has.
	Body []byte `json:"body"`

	// Signed is the signature Antom sent the notification with (nil for an inquiry result,
	// which Antom never signed as a notification, and for events stored before it was kept), so
	// that a forward in Antom's own format can pass it through unchanged.
	Signed *AntomSignature `json:"signed,omitempty"`

	ReceivedAt  time.Time `json:"receivedAt"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	LastStatus  int       `json:"lastStatus,omitempty"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
	DeadAt      time.Time `json:"deadAt,omitzero"`
	// ReplayedAt is when an operator last replayed the event; max_age counts from it.
	ReplayedAt time.Time `json:"replayedAt,omitzero"`
	// TraceParent is the W3C traceparent of the traced request the event came with (none: ""):
	// its later delivery attempts join that trace.
	TraceParent string `json:"traceParent,omitempty"`
	// History is what happened to the event after its receipt, oldest first: its last
	// maxHistory delivery outcomes and replays (for the operator's timeline).
	History []Step `json:"history,omitempty"`
	// LastLatency is how long the app took to answer the attempt whose outcome the next
	// MarkDelivered, MarkDead or Reschedule records in History (the dispatcher sets it around
	// that call); not stored itself.
	LastLatency time.Duration `json:"-"`
	// Claim is the token of the claim this instance holds on the event (Claim, AddDelivering),
	// "" for none; the store's writes of the event check it. Not stored in the document.
	Claim string `json:"-"`
	// Followed is set by the store's MarkDelivered and MarkDead when another event of the same
	// Route and OrderKey is pending, waiting for this one to end: the dispatcher then looks for
	// it at once rather than at its next poll. Not stored.
	Followed bool `json:"-"`
	// Unreadable marks an event a store lists whose stored record cannot be decoded (set aside
	// dead with ReasonUnreadable once claimed): only what the store keeps beside the record is
	// known (id, profile, route, type, request id, state, times), no body, and LastError says
	// what to do. It cannot be replayed or copied; it is never stored.
	Unreadable bool `json:"unreadable,omitempty"`
}

// AntomSignature is what Antom's signature over a notification depends on besides the body:
// the three headers, verbatim, and the path Antom signed (the notify URL's path and query).
type AntomSignature struct {
	ClientID    string `json:"clientId"`
	RequestTime string `json:"requestTime"`
	Signature   string `json:"signature"`
	Path        string `json:"path"`
}

// PaymentOrderKey is the OrderKey of the events of the payment paymentID (notifications and the
// results reconciliation finds): the store delivers them in the order received.
func PaymentOrderKey(paymentID string) string { return "payment:" + paymentID }

// Step is one entry of an event's History.
type Step struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`             // StepRetry, StepDelivered, StepDead or StepReplayed
	Status int       `json:"status,omitempty"` // the app's HTTP status (0: none)
	Error  string    `json:"error,omitempty"`
	// Latency is how long the delivery attempt took (0: no attempt, e.g. a replay).
	Latency time.Duration `json:"latency,omitempty"`
}

// Step kinds.
const (
	StepRetry     = "retry"     // an attempt failed; another follows
	StepDelivered = "delivered" // the app answered 2xx
	StepDead      = "dead"      // delivery was given up
	StepReplayed  = "replayed"  // an operator replayed the event
)

// maxHistory bounds History: an event retried for a day keeps its latest outcomes.
const maxHistory = 50

// Record appends st to the event's History, dropping the oldest beyond maxHistory. Every
// store's state changes call it.
func (e *Event) Record(st Step) {
	e.History = append(e.History, st)
	if len(e.History) > maxHistory {
		e.History = append([]Step(nil), e.History[len(e.History)-maxHistory:]...)
	}
}

// RetryFrom is when the event's retry window (max_age) started: its receipt, or its last replay.
func (e *Event) RetryFrom() time.Time {
	if e.ReplayedAt.After(e.ReceivedAt) {
		return e.ReplayedAt
	}
	return e.ReceivedAt
}

// StateTime is when the event entered its state: delivered, dead, or (pending) replayed; zero
// for a pending event that was never replayed.
func (e *Event) StateTime() time.Time {
	switch e.State {
	case StateDelivered:
		return e.DeliveredAt
	case StateDead:
		return e.DeadAt
	}
	return e.ReplayedAt
}

// EventID is the stable webhook-id of a notification: "msg_" followed by the
// first 32 hex digits of sha256(profile + "\n" + dedupKey). Every duplicate
// of a notification, and the inquiry result that stands in for it, gets the
// same id.
func EventID(profile, dedupKey string) string {
	return hashID("msg_", profile, dedupKey)
}

// ValidEventID reports whether id has the form EventID produces. Ids from
// outside (admin API) must pass it before they become storage keys.
func ValidEventID(id string) bool { return validHashID("msg_", id) }

func hashID(prefix, a, b string) string {
	sum := sha256.Sum256([]byte(a + "\n" + b))
	return prefix + hex.EncodeToString(sum[:])[:32]
}

func validHashID(prefix, id string) bool {
	if len(id) != len(prefix)+32 || id[:len(prefix)] != prefix {
		return false
	}
	for _, c := range id[len(prefix):] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PrepareAdd is what every store's Add does to a new event first: it fills in a missing ID
// (EventID(Profile, DedupKey)), ReceivedAt (now) and NextAttempt (ReceivedAt + grace), sets
// State to pending, and checks the ID.
func (ev *Event) PrepareAdd(grace time.Duration) error {
	if ev.ID == "" {
		ev.ID = EventID(ev.Profile, ev.DedupKey)
	}
	if !ValidEventID(ev.ID) {
		return fmt.Errorf("%w: %q", ErrInvalidID, ev.ID)
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = time.Now()
	}
	if ev.NextAttempt.IsZero() {
		ev.NextAttempt = ev.ReceivedAt.Add(grace)
	}
	ev.State = StatePending
	return nil
}

// Defaults.
const (
	// DefaultRetention is how long delivered and dead events (and finished
	// payments) are kept. Deduplication of notifications holds this long;
	// Antom stops retrying after about 24 hours.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultGrace is added to ReceivedAt when Add is given an event without
	// NextAttempt: it reserves time for the synchronous first delivery so
	// the background dispatcher (possibly on another instance) does not
	// deliver the same event in parallel.
	DefaultGrace = 30 * time.Second
)

// ErrNotFound is returned (wrapped) when an event or payment does not exist.
// It matches fs.ErrNotExist with errors.Is as well.
var ErrNotFound = fmt.Errorf("outbox: %w", fs.ErrNotExist)

// ErrAlreadyPending is returned (wrapped) by Replay for an event that is pending.
var ErrAlreadyPending = errors.New("event is pending already; nothing to replay")

// ErrInvalidID is returned for ids that EventID/PaymentRecordID could not
// have produced; they never reach storage.
var ErrInvalidID = errors.New("outbox: invalid id")

// PrepareReplay turns a delivered or dead event into the pending event its replay at t makes:
// due at once, attempts reset. It returns the replay time, which is after the final state's
// time even if the clock is behind it (the replayed copy must outrank the final one).
func (ev *Event) PrepareReplay(t time.Time) time.Time {
	if final := ev.StateTime(); !t.After(final) {
		t = final.Add(time.Millisecond)
	}
	ev.State = StatePending
	ev.Attempts = 0
	ev.NextAttempt = t
	ev.ReplayedAt = t
	ev.LastError = ""
	ev.LastStatus = 0
	ev.DeliveredAt = time.Time{}
	ev.DeadAt = time.Time{}
	ev.Record(Step{At: t, What: StepReplayed})
	return t
}

// MarkDelivered is what every store's MarkDelivered does to ev: delivered at at (the caller
// set LastStatus).
func (ev *Event) MarkDelivered(at time.Time) {
	ev.State = StateDelivered
	ev.DeliveredAt = at
	ev.NextAttempt = time.Time{}
	ev.LastError = ""
	ev.Record(Step{At: at, What: StepDelivered, Status: ev.LastStatus, Latency: ev.LastLatency})
}

// MarkDead is what every store's MarkDead does to ev: given up at at, for reason.
func (ev *Event) MarkDead(at time.Time, reason string) {
	ev.State = StateDead
	ev.DeadAt = at
	ev.NextAttempt = time.Time{}
	if reason != "" {
		ev.LastError = reason
	}
	ev.Record(Step{At: at, What: StepDead, Status: ev.LastStatus, Error: ev.LastError, Latency: ev.LastLatency})
}

// Reschedule is what every store's Reschedule does to ev: the attempt that ended at at failed
// with lastErr and status (0: no HTTP answer); the next one is at next.
func (ev *Event) Reschedule(at, next time.Time, lastErr string, status int) {
	ev.State = StatePending
	ev.NextAttempt = next
	ev.LastError = lastErr
	ev.LastStatus = status
	ev.Record(Step{At: at, What: StepRetry, Status: status, Error: lastErr, Latency: ev.LastLatency})
}
