package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddy-antom/caddy-antom/outbox"
)

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func errInvalidActivity(id string) error  { return fmt.Errorf("%w: %q", outbox.ErrInvalidID, id) }

// Search returns up to limit events matching f, newest first, after cursor. The state, type,
// route, request id and payment id filters use the indexes of their columns; source and kind
// are read from the documents of the rows those leave. An event whose record cannot be decoded
// is listed Unreadable (scanEvent).
func (s *Store) Search(ctx context.Context, f outbox.Filter, cursor outbox.Cursor, limit int) ([]*outbox.Event, outbox.Cursor, error) {
	var where []string
	var args []any
	for _, c := range []struct{ sql, v string }{
		{"state = ?", string(f.State)},
		{"type = ?", f.Type},
		// The <> '' is what PostgreSQL's partial indexes on these columns are built on: with it
		// the generic plan of the prepared statement can use them too (without it, a seq scan).
		{"request_id = ? AND request_id <> ''", f.RequestID},
		{"payment_id = ? AND payment_id <> ''", f.PaymentID},
		{"route = ?", f.Route},
		{s.d.jsonText("source") + " = ?", f.Source},
		{s.d.jsonText("kind") + " = ?", f.Kind},
	} {
		if c.v != "" {
			where, args = append(where, c.sql), append(args, c.v)
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "received_at >= ?"), append(args, s.d.t(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "received_at < ?"), append(args, s.d.t(f.Until))
	}
	if cursor.ID != "" {
		where = append(where, "(received_at < ? OR (received_at = ? AND id < ?))")
		args = append(args, s.d.t(cursor.At), s.d.t(cursor.At), cursor.ID)
	}
	q := `SELECT ` + eventColumns + ` FROM antom_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether there is a next one.
	n := limitOrAll(limit)
	if limit > 0 {
		n++
	}
	args = append(args, n)
	evs, err := readAll(ctx, s, scanEvent, q+" ORDER BY received_at DESC, id DESC LIMIT ?", args...)
	if err != nil {
		return nil, outbox.Cursor{}, err
	}
	page, next := outbox.Page(evs, limit)
	return page, next, nil
}

// Import copies ev, in whatever state it is, unless an event with its id exists: what moving a
// shop from another store needs (pending events to deliver, delivered and dead ones to keep
// deduplicating). It reports whether ev was copied. An Unreadable event (its record could not
// be read) is refused: there is nothing to copy but its id.
func (s *Store) Import(ctx context.Context, ev *outbox.Event) (bool, error) {
	if ev.Unreadable {
		return false, fmt.Errorf("event %s: %s: its record could not be read, so it cannot be copied", ev.ID, outbox.ReasonUnreadable)
	}
	doc, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	var added bool
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		added, err = s.insertEvent(ctx, tx, ev, doc, "", 0)
		return err
	})
	return added && err == nil, err
}

// ImportPayment copies p, in whatever state it is, unless a payment with its id exists.
func (s *Store) ImportPayment(ctx context.Context, p *outbox.Payment) (bool, error) {
	return s.insertPayment(ctx, p)
}
