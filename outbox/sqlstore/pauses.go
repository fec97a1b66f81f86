package sqlstore

import (
	"context"
	"database/sql"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// PausedRoutes returns the ids of the paused delivery routes, sorted.
func (s *Store) PausedRoutes(ctx context.Context) ([]string, error) {
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT route_id FROM antom_paused_routes ORDER BY route_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SetPaused pauses or resumes the routes for every instance, in one transaction. Claims and
// first attempts leave out the events of a paused route from then on.
func (s *Store) SetPaused(ctx context.Context, routeIDs []string, paused bool) error {
	q := `DELETE FROM antom_paused_routes WHERE route_id = ?`
	if paused {
		q = `INSERT INTO antom_paused_routes (route_id, paused_at) VALUES (?, {now}) ON CONFLICT DO NOTHING`
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, id := range routeIDs {
			if _, err := s.txExec(ctx, tx, s.q(q), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddActivity inserts a (once per id: a repeated insert changes nothing); an activity naming
// no id is not stored.
func (s *Store) AddActivity(ctx context.Context, a *outbox.Activity) error {
	if !outbox.ValidActivityID(a.ID) {
		return errInvalidActivity(a.ID)
	}
	if len(a.IDs) == 0 {
		return nil
	}
	doc, err := jsonMarshal(a)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.d.addActivity(func(q string, args ...any) (sql.Result, error) { return s.txExec(ctx, tx, q, args...) }, a, doc)
	})
}

// Activities returns the activities naming id in field, oldest first.
func (s *Store) Activities(ctx context.Context, field, id string) ([]*outbox.Activity, error) {
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.r.QueryContext(ctx, s.q(s.d.activities()), s.d.activityArg(field, id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var acts []*outbox.Activity
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var a outbox.Activity
		if err := jsonUnmarshal(doc, &a); err != nil {
			continue // an unreadable activity hides only itself
		}
		acts = append(acts, &a)
	}
	return acts, rows.Err()
}
