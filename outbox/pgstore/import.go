package pgstore

import (
	"context"
	"encoding/json"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Import copies ev, in whatever state it is, unless an event with its id exists: what moving a
// shop from another store needs (pending events to deliver, delivered and dead ones to keep
// deduplicating). It reports whether ev was copied.
func (s *Store) Import(ctx context.Context, ev *outbox.Event) (bool, error) {
	doc, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	n, err := s.exec(ctx, `INSERT INTO antom_events
		(id, profile, state, type, request_id, payment_id, received_at, next_attempt, state_at, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
		ev.ID, ev.Profile, string(ev.State), ev.Type, ev.RequestID, ev.PaymentID(), ev.ReceivedAt,
		nullTime(ev.NextAttempt), nullTime(ev.StateTime()), doc)
	return n == 1, err
}

// ImportPayment copies p, in whatever state it is, unless a payment with its id exists.
func (s *Store) ImportPayment(ctx context.Context, p *outbox.Payment) (bool, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	n, err := s.exec(ctx, `INSERT INTO antom_payments
		(id, profile, state, payment_request_id, payment_id, created_at, next_inquiry, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Profile, string(p.State), p.PaymentRequestID, p.PaymentID, p.CreatedAt, nullTime(p.NextInquiry), doc)
	return n == 1, err
}
