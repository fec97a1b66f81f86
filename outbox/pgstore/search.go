package pgstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Search returns up to limit events matching f, newest first, after cursor. The state, type,
// request id and payment id filters use the indexes of the same columns; route, source and kind
// are read from the document of the rows those leave.
func (s *Store) Search(ctx context.Context, f outbox.Filter, cursor outbox.Cursor, limit int) ([]*outbox.Event, outbox.Cursor, error) {
	var where []string
	var args []any
	cond := func(sql string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(sql, "?", "$"+strconv.Itoa(len(args))))
	}
	for _, c := range []struct{ sql, v string }{
		{"state = ?", string(f.State)},
		{"type = ?", f.Type},
		{"request_id = ?", f.RequestID},
		{"payment_id = ?", f.PaymentID},
		{"doc->>'route' = ?", f.Route},
		{"doc->>'source' = ?", f.Source},
		{"doc->>'kind' = ?", f.Kind},
	} {
		if c.v != "" {
			cond(c.sql, c.v)
		}
	}
	if !f.Since.IsZero() {
		cond("received_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		cond("received_at < ?", f.Until)
	}
	if cursor.ID != "" {
		args = append(args, cursor.At, cursor.ID)
		n := len(args)
		where = append(where, "(received_at, id) < ($"+strconv.Itoa(n-1)+", $"+strconv.Itoa(n)+")")
	}
	sql := `SELECT doc, state FROM antom_events`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether there is a next one.
	var max any // LIMIT NULL: all
	if limit > 0 {
		max = limit + 1
	}
	args = append(args, max)
	sql += " ORDER BY received_at DESC, id DESC LIMIT $" + strconv.Itoa(len(args))
	evs, err := s.queryEvents(ctx, sql, args...)
	if err != nil {
		return nil, outbox.Cursor{}, err
	}
	page, next := outbox.Page(evs, limit)
	return page, next, nil
}
