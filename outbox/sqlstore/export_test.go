package sqlstore

import "context"

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
