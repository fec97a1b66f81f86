package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// PausedRoutes returns the ids of the paused delivery routes, sorted.
func (s *Store) PausedRoutes(ctx context.Context) ([]string, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT route_id FROM antom_paused_routes ORDER BY route_id`)
	if err != nil {
		return nil, s.health.observe(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if ids == nil {
		ids = []string{}
	}
	return ids, s.health.observe(err)
}

// SetPaused pauses or resumes the routes for every instance, in one statement.
func (s *Store) SetPaused(ctx context.Context, routeIDs []string, paused bool) error {
	sql := `DELETE FROM antom_paused_routes WHERE route_id = ANY($1)`
	if paused {
		sql = `INSERT INTO antom_paused_routes (route_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`
	}
	_, err := s.exec(ctx, sql, routeIDs)
	return err
}
