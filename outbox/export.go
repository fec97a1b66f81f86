package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// EachActivity calls fn once with every activity stored on days that end after since (the
// file store keeps each record once per id it names; fn sees it once). It is what
// `caddy antom copy-store` copies out of a file store.
func (s *Store) EachActivity(ctx context.Context, since time.Time, fn func(*Activity) error) error {
	days, err := s.listNames(ctx, activityPrefix)
	if err != nil {
		return err
	}
	for _, day := range days {
		t, err := time.Parse(activityDay, day)
		if err != nil || !t.AddDate(0, 0, 1).After(since) {
			continue
		}
		if err := s.eachActivityOn(ctx, day, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachActivityOn calls fn with each activity of one day folder, once.
func (s *Store) eachActivityOn(ctx context.Context, day string, fn func(*Activity) error) error {
	dir := activityPrefix + "/" + day
	keys, err := s.listNames(ctx, dir)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, key := range keys {
		names, err := s.listNames(ctx, dir+"/"+key)
		if err != nil {
			return err
		}
		for _, name := range names {
			_, actID, ok := strings.Cut(name, "-")
			if !ok || !ValidActivityID(actID) || seen[actID] {
				continue // a temporary file, or a record seen under another of its ids
			}
			b, err := s.storage.Load(ctx, dir+"/"+key+"/"+name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned meanwhile
			}
			if err != nil {
				return err
			}
			var a Activity
			if err := json.Unmarshal(b, &a); err != nil {
				return fmt.Errorf("decoding %s/%s/%s: %w", dir, key, name, err)
			}
			seen[actID] = true
			if err := fn(&a); err != nil {
				return err
			}
		}
	}
	return nil
}
