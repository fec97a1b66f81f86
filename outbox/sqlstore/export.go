package sqlstore

import (
	"context"
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
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, "", err
	}
	defer cancel()
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT id, doc FROM antom_activity WHERE id > ? AND at >= ? ORDER BY id LIMIT ?`),
		after, s.d.t(since), exportPage)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var acts []*outbox.Activity
	n, last := 0, ""
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&last, &doc); err != nil {
			return nil, "", err
		}
		n++
		var a outbox.Activity
		if jsonUnmarshal(doc, &a) == nil {
			acts = append(acts, &a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if n < exportPage {
		last = ""
	}
	return acts, last, nil
}
