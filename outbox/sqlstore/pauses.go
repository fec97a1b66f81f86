package sqlstore

import (
	"context"
	"database/sql"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// PausedRoutes returns the ids of the paused delivery routes, sorted.
func (s *Store) PausedRoutes(ctx context.Context) ([]string, error) {
	ids, err := readAll(ctx, s, scanString, `SELECT route_id FROM antom_paused_routes ORDER BY route_id`)
	if ids == nil && err == nil {
		ids = []string{}
	}
	return ids, err
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

// Activities returns the activities naming id in field, oldest first; one that cannot be
// decoded hides only itself.
func (s *Store) Activities(ctx context.Context, field, id string) ([]*outbox.Activity, error) {
	return readAll(ctx, s, func(rows *sql.Rows) (*outbox.Activity, bool, error) {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, false, err
		}
		a := decodeActivity(doc)
		return a, a != nil, nil
	}, s.d.activities(), s.d.activityArg(field, id))
}
