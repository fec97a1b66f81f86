package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
)

// pausedKey is where Store keeps the paused delivery routes: a JSON list of route ids.
const pausedKey = "antom/forwards/paused.json"

// ErrBadPauses is returned (wrapped) when the stored paused routes cannot be read as such.
var ErrBadPauses = errors.New("outbox: the paused forwards record is damaged")

// PausedRoutes returns the ids of the paused delivery routes, sorted; none recorded: none.
func (s *Store) PausedRoutes(ctx context.Context) ([]string, error) {
	raw, err := s.storage.Load(ctx, pausedKey)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the paused forwards (%s): %w", pausedKey, err)
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("%w: %s is not a JSON list of route ids (%v); fix or delete it (deleting resumes every forward)", ErrBadPauses, pausedKey, err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// SetPaused pauses (paused=true) or resumes the routes, durably before it returns. The list is
// rewritten under a storage lock, so instances sharing the storage never undo each other's change.
func (s *Store) SetPaused(ctx context.Context, routeIDs []string, paused bool) error {
	if err := s.storage.Lock(ctx, pausedKey); err != nil {
		return fmt.Errorf("locking the paused forwards: %w", err)
	}
	defer func() { _ = s.storage.Unlock(context.WithoutCancel(ctx), pausedKey) }()
	ids, err := s.PausedRoutes(ctx)
	if err != nil {
		return err
	}
	if paused {
		ids = append(ids, routeIDs...)
	} else {
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(routeIDs, id) })
	}
	slices.Sort(ids)
	raw, _ := json.Marshal(slices.Compact(ids))
	if err := s.storage.Store(ctx, pausedKey, raw); err != nil {
		return fmt.Errorf("saving the paused forwards (%s): %w", pausedKey, err)
	}
	return nil
}
