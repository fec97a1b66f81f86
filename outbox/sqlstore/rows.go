package sqlstore

// rows.go: the one row loop every query shares (scanEach, readAll), and the scanners of the
// rows the store reads back: events, payments, single strings.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// scanEach scans every row of rows with scan, leaving out those it reports false for, and
// closes rows.
func scanEach[T any](rows *sql.Rows, scan func(*sql.Rows) (T, bool, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, keep, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, v)
		}
	}
	return out, rows.Err()
}

// readAll runs the read q (expanded by Store.q) on the read pool and scans its rows with scan.
func readAll[T any](ctx context.Context, s *Store, scan func(*sql.Rows) (T, bool, error), q string, args ...any) ([]T, error) {
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	return scanEach(rows, scan)
}

// scanString scans a row of one text column.
func scanString(rows *sql.Rows) (string, bool, error) {
	var v string
	err := rows.Scan(&v)
	return v, err == nil, err
}

// eventColumns are what a listing reads of an event: its document, and the columns that still
// tell what the event was when the document cannot be decoded (scanEvent).
const eventColumns = `id, state, doc, profile, route, type, request_id, received_at, state_at`

// unreadableAdvice is the LastError of an event listed Unreadable: what the operator can do.
const unreadableAdvice = outbox.ReasonUnreadable + ": fix or delete its row in antom_events (its document cannot be decoded)"

// scanEvent scans a row of eventColumns. An event whose document cannot be decoded is not left
// out: it is listed as its columns tell it, Unreadable, without a body, so that an operator sees
// it and what to do (unreadableAdvice).
func scanEvent(rows *sql.Rows) (*outbox.Event, bool, error) {
	var id, state, profile, route, typ, requestID string
	var doc []byte
	var received, stateAt any
	if err := rows.Scan(&id, &state, &doc, &profile, &route, &typ, &requestID, &received, &stateAt); err != nil {
		return nil, false, err
	}
	if ev, err := decodeEvent(id, doc, state); err == nil {
		return ev, true, nil
	}
	ev := &outbox.Event{ID: id, State: outbox.State(state), Profile: profile, Route: route, Type: typ,
		RequestID: requestID, ReceivedAt: timeOf(received), LastError: unreadableAdvice, Unreadable: true}
	switch ev.State {
	case outbox.StateDelivered:
		ev.DeliveredAt = timeOf(stateAt)
	case outbox.StateDead:
		ev.DeadAt = timeOf(stateAt)
	}
	return ev, true, nil
}

// decodeEvent decodes the document of the event id; a document of another id is unreadable too.
func decodeEvent(id string, doc []byte, state string) (*outbox.Event, error) {
	var ev outbox.Event
	if err := json.Unmarshal(doc, &ev); err != nil {
		return nil, err
	}
	if ev.ID != id {
		return nil, fmt.Errorf("the document holds event %q", ev.ID)
	}
	ev.State = outbox.State(state) // the column is the truth
	return &ev, nil
}

// errUnreadable is the error of an operation on the event id whose document cannot be decoded.
func errUnreadable(id string, err error) error {
	return fmt.Errorf("event %s: %s: its stored document cannot be decoded (%v); it cannot be shown or replayed: fix or delete its row in antom_events",
		id, outbox.ReasonUnreadable, err)
}

// scanPayment scans a row of a payment's document and state.
func scanPayment(rows *sql.Rows) (*outbox.Payment, bool, error) {
	var doc []byte
	var state string
	if err := rows.Scan(&doc, &state); err != nil {
		return nil, false, err
	}
	var p outbox.Payment
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, false, errors.Join(fmt.Errorf("decoding a payment record (%s)", outbox.ReasonUnreadable), err)
	}
	p.State = outbox.State(state)
	return &p, true, nil
}
