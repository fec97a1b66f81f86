// Package reconcile makes sure the merchant's app learns the result of every payment started
// through antom_api, even when Antom's PAYMENT_RESULT notification never arrives.
//
// The seeds name the failure and its cure: the buyer paid but the merchant never received the
// notification, so the merchant calls inquiryPayment before the transaction closes (carry on on
// success, keep inquiring on an unclear status, cancel on failure or timeout), polling every 2
// seconds until the final result or the notification arrives.
//
// The flow:
//
//  1. antom_api records each payment Antom did not refuse (pay, createPaymentSession; S, U or
//     no trusted answer) with Started and
//     outbox.EventStore.AddPayment: profile, paymentRequestId, amount, expiry.
//  2. After a grace period (Config.After) the Worker, which runs only on the instance holding
//     the storage lock, inquires about payments still pending, backing off from 2 s to
//     MaxInterval, through the same signed, verified antom.Client as every API call.
//  3. Before each inquiry it looks for the PAYMENT_RESULT notification in the event store (the
//     webhook-id is derived from the paymentId): if it arrived, the payment is done.
//  4. A final status (SUCCESS, FAIL, CANCELLED) becomes an event shaped like the PAYMENT_RESULT
//     notification, with the notification's deduplication key and Source inquiry, delivered by
//     the same dispatcher to the same app endpoint. Whichever of the two arrives second is a
//     duplicate and is not delivered again.
//  5. At expiry one more inquiry; with Config.CancelUnpaid an unpaid payment is cancelled. After
//     Config.GiveUp without a final status the payment is given up (logged; never guessed).
//
// Refunds and captures follow the same steps as records of another kind (Records): a refund
// is inquired with inquiryRefund, a capture (asked, or the automatic capture of a card
// payment) with inquiryPayment's transactions, and the result becomes the REFUND_RESULT or
// CAPTURE_RESULT notification, under its deduplication key and in its payment's order.
package reconcile

import (
	"fmt"
	"time"
)

// Defaults and schedule.
const (
	// DefaultAfter is the grace period between the start of a payment and its first inquiry:
	// Antom notifies a successful payment within seconds, so most payments never need one.
	DefaultAfter = 30 * time.Second
	// DefaultGiveUp is how long after its start a payment is inquired about at most. Antom's
	// own notification retries last about 24 hours.
	DefaultGiveUp = 24 * time.Hour
	// FirstInterval is the wait after the first inquiry: the 2 s of the seeds' cashier FAQ.
	FirstInterval = 2 * time.Second
	// MaxInterval caps the doubling backoff between inquiries.
	MaxInterval = 5 * time.Minute
	// ExpiryMargin is how long after a payment's expiry time the "last" inquiry (and the
	// cancellation of an unpaid payment) happens, for clock skew between Caddy and Antom.
	ExpiryMargin = 5 * time.Second
	// NotExistGrace is how long after expiry an ORDER_NOT_EXIST answer is believed: a payment
	// session the buyer never used has no order at Antom, and none can appear after expiry.
	NotExistGrace = 5 * time.Minute
)

// Default lifetimes of an unpaid payment whose request names no expiry (Antom's documented
// defaults, as the offline simulator applies them).
const (
	DefaultCashierExpiry     = 14 * time.Minute // CASHIER_PAYMENT, pay and createPaymentSession
	DefaultEasySafePayExpiry = time.Hour        // AGREEMENT_PAYMENT sessions (EasySafePay)
)

// Config is the reconciliation setup of one merchant profile (from its antom_api handler).
type Config struct {
	// After is the grace period before the first inquiry (<= 0: DefaultAfter).
	After time.Duration
	// GiveUp is how long after the payment started inquiries go on (<= 0: DefaultGiveUp).
	GiveUp time.Duration
	// CancelUnpaid cancels a payment that is still unpaid (paymentStatus PROCESSING in a signed
	// answer) at its expiry. It never cancels a payment whose status is unclear.
	CancelUnpaid bool
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.After <= 0 {
		c.After = DefaultAfter
	}
	if c.GiveUp <= 0 {
		c.GiveUp = DefaultGiveUp
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if c.GiveUp <= c.After {
		return fmt.Errorf("reconcile: give_up (%s) must be longer than after (%s)", c.GiveUp, c.After)
	}
	return nil
}

// backoff is the wait after the n-th inquiry (n >= 1): 2s, 4s, 8s, ... capped at MaxInterval.
func backoff(n int) time.Duration {
	d := FirstInterval
	for i := 1; i < n && d < MaxInterval; i++ {
		d *= 2
	}
	return min(d, MaxInterval)
}
