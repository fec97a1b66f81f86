package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// exportPage is how many rows EachActivity reads at a time.
const exportPage = 500

// EachActivity calls fn with every activity recorded at or after since, in id order, reading
// them a page at a time (what `caddy antom copy-store` copies). A record that cannot be decoded
// is skipped, as Activities does.
func (s *Store) EachActivity(ctx context.Context, since time.Time, fn func(*outbox.Activity) error) error {
	after := ""
	for {
		page, last, err := s.activityPage(ctx, since, after)
		if err != nil {
			return err
		}
		for _, a := range page {
			if err := fn(a); err != nil {
				return err
			}
		}
		if last == "" {
			return nil
		}
		after = last
	}
}

// activityPage reads the activities at or after since with an id after after, and returns the
// last id read ("" when the page was the last).
func (s *Store) activityPage(ctx context.Context, since time.Time, after string) ([]*outbox.Activity, string, error) {
	type row struct {
		id string
		a  *outbox.Activity // nil: it cannot be decoded
	}
	rows, err := readAll(ctx, s, func(rows *sql.Rows) (row, bool, error) {
		var r row
		var doc []byte
		err := rows.Scan(&r.id, &doc)
		r.a = decodeActivity(doc)
		return r, err == nil, err
	}, `SELECT id, doc FROM antom_activity WHERE id > ? AND at >= ? ORDER BY id LIMIT ?`, after, s.d.t(since), exportPage)
	if err != nil || len(rows) < exportPage {
		after = ""
	} else {
		after = rows[len(rows)-1].id
	}
	var acts []*outbox.Activity
	for _, r := range rows {
		if r.a != nil {
			acts = append(acts, r.a)
		}
	}
	return acts, after, err
}

// decodeActivity decodes an activity's document (nil if it cannot be).
func decodeActivity(doc []byte) *outbox.Activity {
	var a outbox.Activity
	if jsonUnmarshal(doc, &a) != nil {
		return nil
	}
	return &a
}
