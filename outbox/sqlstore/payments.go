package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

const insertPaymentSQL = `INSERT INTO antom_payments
	(id, profile, state, payment_request_id, payment_id, created_at, next_inquiry, doc)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`

func (s *Store) insertPayment(ctx context.Context, p *outbox.Payment) (bool, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	n, err := s.exec(ctx, insertPaymentSQL, p.ID, p.Profile, string(p.State), p.PaymentRequestID, p.PaymentID,
		s.d.t(p.CreatedAt), s.d.t(p.NextInquiry), string(doc))
	return n == 1, err
}

// AddPayment inserts p as pending unless its id exists.
func (s *Store) AddPayment(ctx context.Context, p *outbox.Payment) (bool, error) {
	if err := p.PrepareAdd(); err != nil {
		return false, err
	}
	return s.insertPayment(ctx, p)
}

// GetPayment returns the payment with id.
func (s *Store) GetPayment(ctx context.Context, id string) (*outbox.Payment, error) {
	if !outbox.ValidPaymentRecordID(id) {
		return nil, fmt.Errorf("%w: %q", outbox.ErrInvalidID, id)
	}
	ps, err := s.queryPayments(ctx, `SELECT doc, state FROM antom_payments WHERE id = ?`, id)
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
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int
	err = s.r.QueryRowContext(ctx, s.q(`SELECT count(*) FROM antom_payments WHERE state = ?`), string(state)).Scan(&n)
	return n, err
}

// ListPayments returns up to limit payments in state, oldest CreatedAt first.
func (s *Store) ListPayments(ctx context.Context, state outbox.State, limit int) ([]*outbox.Payment, error) {
	return s.queryPayments(ctx, `SELECT doc, state FROM antom_payments WHERE state = ?
		ORDER BY created_at, id LIMIT ?`, string(state), limitOrAll(limit))
}

// DuePayments claims up to limit (limit <= 0: paymentBatch) pending payments due at at that no
// other instance holds, earliest first, for paymentLease on the database's clock.
func (s *Store) DuePayments(ctx context.Context, at time.Time, limit int) ([]*outbox.Payment, error) {
	if !s.health.probeDue() {
		return nil, nil // the database is down: the next probe comes with backoff
	}
	if limit <= 0 {
		limit = paymentBatch
	}
	var ps []*outbox.Payment
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ps = nil
		rows, err := s.txQuery(ctx, tx, s.q(`UPDATE antom_payments SET lease_until = {later}
			WHERE id IN (SELECT id FROM antom_payments
				WHERE state = 'pending' AND next_inquiry <= ? AND (lease_until IS NULL OR lease_until <= {now})
				ORDER BY next_inquiry, id LIMIT ?{lock})
			RETURNING doc, state`), paymentLease.Microseconds(), s.d.t(at), limit)
		if err != nil {
			return err
		}
		ps, err = scanEach(rows, scanPayment)
		return err
	})
	if err != nil {
		if s.d.unreachable(err) {
			return nil, nil // logged once by health
		}
		return nil, err
	}
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].NextInquiry.Equal(ps[j].NextInquiry) {
			return ps[i].NextInquiry.Before(ps[j].NextInquiry)
		}
		return ps[i].ID < ps[j].ID
	})
	return ps, nil
}

// UpdatePayment rewrites a pending payment; a done one is left alone.
func (s *Store) UpdatePayment(ctx context.Context, p *outbox.Payment) error {
	p.State = outbox.StatePending
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `UPDATE antom_payments SET payment_id = ?, next_inquiry = ?, lease_until = NULL, doc = ?
		WHERE id = ? AND state = 'pending'`, p.PaymentID, s.d.t(p.NextInquiry), string(doc), p.ID)
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
	_, err = s.exec(ctx, `UPDATE antom_payments SET state = 'done', payment_id = ?, next_inquiry = NULL,
		lease_until = NULL, doc = ? WHERE id = ?`, p.PaymentID, string(doc), p.ID)
	return err
}

func (s *Store) queryPayments(ctx context.Context, q string, args ...any) ([]*outbox.Payment, error) {
	return readAll(ctx, s, scanPayment, q, args...)
}
