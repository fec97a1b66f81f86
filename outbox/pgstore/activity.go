package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// AddActivity inserts a (once per id: a repeated insert changes nothing).
func (s *Store) AddActivity(ctx context.Context, a *outbox.Activity) error {
	if !outbox.ValidActivityID(a.ID) {
		return fmt.Errorf("%w: %q", outbox.ErrInvalidID, a.ID)
	}
	if len(a.IDs) == 0 {
		return nil
	}
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ids, err := json.Marshal(a.IDs)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO antom_activity (id, at, ids, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.At, ids, doc)
	return err
}

// Activities returns the activities naming id in field, oldest first.
func (s *Store) Activities(ctx context.Context, field, id string) ([]*outbox.Activity, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	want, err := json.Marshal(map[string]string{field: id})
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT doc FROM antom_activity WHERE ids @> $1 ORDER BY at, id`, want)
	if err != nil {
		return nil, s.health.observe(err)
	}
	acts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*outbox.Activity, error) {
		var a outbox.Activity
		var doc []byte
		if err := row.Scan(&doc); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(doc, &a); err != nil {
			return nil, fmt.Errorf("decoding an activity row: %w", err)
		}
		return &a, nil
	})
	return acts, s.health.observe(err)
}
