package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// AddPayment inserts p as pending unless its id exists.
func (s *Store) AddPayment(ctx context.Context, p *outbox.Payment) (bool, error) {
	if err := p.PrepareAdd(); err != nil {
		return false, err
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	n, err := s.exec(ctx, `INSERT INTO antom_payments
		(id, profile, state, payment_request_id, payment_id, created_at, next_inquiry, doc)
		VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Profile, p.PaymentRequestID, p.PaymentID, p.CreatedAt, nullTime(p.NextInquiry), doc)
	return n == 1, err
}

// GetPayment returns the payment with id.
func (s *Store) GetPayment(ctx context.Context, id string) (*outbox.Payment, error) {
	if !outbox.ValidPaymentRecordID(id) {
		return nil, fmt.Errorf("%w: %q", outbox.ErrInvalidID, id)
	}
	ps, err := s.queryPayments(ctx, `SELECT doc, state FROM antom_payments WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("payment %s: %w", id, outbox.ErrNotFound)
	}
	return ps[0], nil
}

// CountPayments returns how many payments are in state.
func (s *Store) CountPayments(ctx context.Context, state outbox.State) (int, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM antom_payments WHERE state = $1`, string(state)).Scan(&n)
	return n, s.health.observe(err)
}

// ListPayments returns up to limit payments in state, oldest CreatedAt first.
func (s *Store) ListPayments(ctx context.Context, state outbox.State, limit int) ([]*outbox.Payment, error) {
	return s.queryPayments(ctx, `SELECT doc, state FROM antom_payments WHERE state = $1
		ORDER BY created_at, id LIMIT $2`, string(state), limitOrAll(limit))
}

// DuePayments claims up to limit (limit <= 0: paymentBatch) due pending payments that no other
// instance holds, earliest first, for paymentLease: long enough for one reconciliation step,
// after which another instance may take a payment whose step was never recorded.
func (s *Store) DuePayments(ctx context.Context, at time.Time, limit int) ([]*outbox.Payment, error) {
	if !s.health.probeDue() {
		return nil, nil
	}
	if limit <= 0 {
		limit = paymentBatch
	}
	ps, err := s.queryPayments(ctx, `UPDATE antom_payments p SET lease_until = $3
		FROM (SELECT id FROM antom_payments
			WHERE state = 'pending' AND next_inquiry <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_inquiry, id LIMIT $2 FOR UPDATE SKIP LOCKED) due
		WHERE p.id = due.id RETURNING p.doc, p.state`, at, limit, at.Add(paymentLease))
	if unreachable(err) {
		return nil, nil // logged once by health; the next probe comes with backoff
	}
	return ps, err
}

// UpdatePayment rewrites a pending payment; a done one is left alone.
func (s *Store) UpdatePayment(ctx context.Context, p *outbox.Payment) error {
	p.State = outbox.StatePending
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `UPDATE antom_payments SET payment_id = $2, next_inquiry = $3, lease_until = NULL, doc = $4
			WHERE id = $1 AND state = 'pending'`, p.ID, p.PaymentID, nullTime(p.NextInquiry), doc)
		return err
	})
	return err
}

// FinishPayment records p's final status.
func (s *Store) FinishPayment(ctx context.Context, p *outbox.Payment, finalStatus string) error {
	p.State = outbox.StateDone
	p.FinalStatus = finalStatus
	p.NextInquiry = time.Time{}
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `UPDATE antom_payments SET state = 'done', payment_id = $2, next_inquiry = NULL,
			lease_until = NULL, doc = $3 WHERE id = $1`, p.ID, p.PaymentID, doc)
		return err
	})
	return err
}

func (s *Store) queryPayments(ctx context.Context, sql string, args ...any) ([]*outbox.Payment, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.health.observe(err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*outbox.Payment, error) {
		var doc []byte
		var state string
		if err := row.Scan(&doc, &state); err != nil {
			return nil, err
		}
		var p outbox.Payment
		if err := json.Unmarshal(doc, &p); err != nil {
			return nil, fmt.Errorf("decoding a payment row: %w", err)
		}
		p.State = outbox.State(state)
		return &p, nil
	})
	return ps, s.health.observe(err)
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
