package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Corrupt overwrites the document of the event id with bytes that do not decode as an event.
func Corrupt(s *Store, id string) error {
	doc := `not json`
	if _, ok := s.d.(postgresDialect); ok {
		doc = `{"id": 42}` // jsonb only holds JSON: one that is not an event
	}
	_, err := s.exec(context.Background(), `UPDATE antom_events SET doc = ? WHERE id = ?`, doc, id)
	return err
}

// NoGroupCommit makes every write commit alone (for the benchmark that compares).
func NoGroupCommit(s *Store) { s.batch = 1 }

// PruneBatch is how many rows one pruning statement deletes.
const PruneBatch = pruneBatch

// ExportPage is how many activities EachActivity reads at a time.
const ExportPage = exportPage

// CorruptActivity overwrites the document of the activity id with JSON that is not an activity.
func CorruptActivity(s *Store, id string) error {
	_, err := s.exec(context.Background(), `UPDATE antom_activity SET doc = '{"id": 42}' WHERE id = ?`, id)
	return err
}

// HoldWriter queues a write that waits until release is called: the writes queued after it
// wait too.
func HoldWriter(s *Store) (release func()) {
	started, held := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.write(context.Background(), func(context.Context, *sql.Tx) error {
			close(started)
			<-held
			return nil
		})
	}()
	<-started
	return sync.OnceFunc(func() { close(held) })
}

// CommitTogether runs one group commit of a write per event, each inserting its event, and
// those whose fail is true failing after their insert; it returns each write's error.
func CommitTogether(s *Store, evs []*outbox.Event, fail []bool) []error {
	batch := make([]*job, len(evs))
	for i, ev := range evs {
		batch[i] = &job{err: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
			if _, err := s.insertEvent(ctx, tx, ev, nil, "", 0); err != nil {
				return err
			}
			if fail[i] {
				return errors.New("failing on purpose")
			}
			return nil
		}}
	}
	s.commit(batch)
	errs := make([]error, len(batch))
	for i, j := range batch {
		errs[i] = <-j.err
	}
	return errs
}
