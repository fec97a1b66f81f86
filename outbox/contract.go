package outbox

import (
	"context"
	"errors"
	"time"
)

// EventStore is the contract every event store keeps (the SQL stores of outbox/sqlstore, on
// SQLite and PostgreSQL); outbox/storetest checks it against each. Every instance sharing a
// store runs the delivery and reconciliation workers: claims are leases, and the store, not
// the caller, enforces pauses and each payment's order, across instances, reloads and
// restarts. These guarantees hold:
//
//   - Add returns added=true only once the event is durable, and exactly once per id among all
//     writers of the store. AddDelivering is Add with a first delivery attempt (deliver) that
//     runs before it returns, at most once per id among those writers; deliver's
//     MarkDelivered, MarkDead or Reschedule of the event is recorded before AddDelivering
//     returns (a store may also write it pending first).
//   - Every state change is one atomic step: after a crash, the old or the new state (never none).
//   - Claim hands out only what the caller will deliver now (see ClaimRequest), each event to
//     one claimant at a time until its lease ends or its outcome is recorded; AddDelivering
//     claims the event it inserts for its first attempt only when Claim could have returned
//     it (its route is not paused and no earlier event of its OrderKey on its route is
//     pending), and otherwise stores it due at once, unclaimed, and does not call deliver.
//   - Every write of a pending event (MarkDelivered, MarkDead, Reschedule, Release) changes it
//     only while the caller's claim (Event.Claim) still holds it, or, for an event written
//     without a claim, while no live claim holds it; otherwise it changes nothing and returns
//     ErrClaimLost. An event no longer pending is never changed by them. MarkDelivered and
//     MarkDead set Event.Followed when another event of the same route and OrderKey is pending,
//     which the end of this one lets go.
type EventStore interface {
	Add(ctx context.Context, ev *Event) (added bool, err error)
	AddDelivering(ctx context.Context, ev *Event, deliver func()) (added bool, err error)
	Get(ctx context.Context, id string) (*Event, error)
	List(ctx context.Context, state State, limit int) ([]*Event, error)
	Counts(ctx context.Context) (map[State]int, error)
	// Backlogs returns, per route id, the pending and dead events and the receipt time of the
	// oldest pending one, for every route that has pending or dead events, without reading the
	// events' bodies.
	Backlogs(ctx context.Context) (map[string]Backlog, error)
	// HourlyOutcomes returns, per route id, the delivery outcomes recorded in each hour (UTC
	// clock hours) from the one holding since on, oldest first, leaving out the hours without
	// any. An outcome counts in the hour of the time it records (MarkDelivered's and MarkDead's
	// at, Reschedule's attempt time), once, when its write changes the event; the count is
	// written in the same atomic step as the outcome, so the answer reads neither the events
	// nor anything that grows with them. Prune drops the hours older than its retention.
	HourlyOutcomes(ctx context.Context, since time.Time) (map[string][]HourOutcomes, error)
	// Search returns up to limit events matching f (limit <= 0: all), newest first, starting
	// after cursor, and the cursor of the next page (zero: this was the last).
	Search(ctx context.Context, f Filter, cursor Cursor, limit int) ([]*Event, Cursor, error)
	// Claim claims, for req.Lease, the due events this instance is to deliver now; see
	// ClaimRequest. The events come back earliest NextAttempt first, each with its Claim set.
	Claim(ctx context.Context, req ClaimRequest) ([]*Event, error)
	// Release ends this instance's claim on ev without changing the event (nothing to do for
	// an event without a claim): it is due again for every instance.
	Release(ctx context.Context, ev *Event) error
	MarkDelivered(ctx context.Context, ev *Event, at time.Time) error
	MarkDead(ctx context.Context, ev *Event, at time.Time, reason string) error
	Reschedule(ctx context.Context, ev *Event, next time.Time, lastErr string, status int) error
	Replay(ctx context.Context, id string) (*Event, error)
	ReplayDead(ctx context.Context) (n int, err error)
	Prune(ctx context.Context, at time.Time, retention time.Duration) (n int, err error)

	AddPayment(ctx context.Context, p *Payment) (added bool, err error)
	GetPayment(ctx context.Context, id string) (*Payment, error)
	CountPayments(ctx context.Context, state State) (int, error)
	ListPayments(ctx context.Context, state State, limit int) ([]*Payment, error)
	DuePayments(ctx context.Context, at time.Time, limit int) ([]*Payment, error)
	UpdatePayment(ctx context.Context, p *Payment) error
	FinishPayment(ctx context.Context, p *Payment, finalStatus string) error

	// PausedRoutes returns the ids of the paused delivery routes (forwards), sorted; SetPaused
	// pauses or resumes routes for every instance of the store, durably before it returns.
	PausedRoutes(ctx context.Context) ([]string, error)
	SetPaused(ctx context.Context, routeIDs []string, paused bool) error
	// AddActivity stores a, found afterwards by each of its IDs (none: it is not stored);
	// Activities returns those naming id in field, oldest first. Prune drops activities older
	// than retention.
	AddActivity(ctx context.Context, a *Activity) error
	Activities(ctx context.Context, field, id string) ([]*Activity, error)
}

// ClaimRequest says which due events Claim may hand out. An event is claimed when it is
// pending, its NextAttempt has passed, no live lease holds it (leases and due times are read on
// the store's clock, the database's, so instances with skewed clocks agree), its route is not
// paused, no earlier-received event of the same route and OrderKey is pending (per-payment
// order, enforced by the store across instances, reloads and restarts), and its route has free
// capacity left: the earliest due events of each route first, at most Free[route] of them, and
// at most Others of each route Free does not name. Nothing is claimed only to be passed over,
// so one route's backlog never delays another route's due event.
type ClaimRequest struct {
	// Limit bounds the events claimed in all.
	Limit int
	// Free is, per configured route id, how many more deliveries to it may start now.
	Free map[string]int
	// Others is how many events of each route Free does not name may be claimed (routes no
	// longer configured here, which the caller sets aside as unroutable).
	Others int
	// Lease is how long the claim holds without being renewed (zero: the store's default).
	// A store renews the leases of the claims it handed out until their outcome is recorded.
	Lease time.Duration
}

// ErrClaimLost is returned (wrapped) by a write of a claimed event that changed nothing: the
// caller's claim ended (its lease expired and another instance claimed the event, or an
// operator replayed it) or the event is no longer pending. The write must not be retried.
var ErrClaimLost = errors.New("outbox: the event is no longer held by this claim")

// ReasonUnreadable is the LastError (and dead reason) of a stored record that cannot be
// decoded: it is set aside dead so that it never stops the other deliveries.
const ReasonUnreadable = "unreadable_record"

// Backlog is what waits for one forward (route).
type Backlog struct {
	Pending, Dead int
	// OldestPending is when the oldest pending event was received (zero: none is pending).
	OldestPending time.Time
}

// HourOutcomes are one route's delivery outcomes in one hour.
type HourOutcomes struct {
	Hour time.Time // the start of the hour, UTC
	// Delivered counts the deliveries (MarkDelivered); Failed the failed attempts: retries
	// scheduled (Reschedule) and deliveries given up (MarkDead).
	Delivered, Failed int
}
