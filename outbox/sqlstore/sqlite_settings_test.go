package sqlstore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// The settings OpenSQLite promises (its godoc, the README's SQLite store) are in effect on its
// connections: the writer's commits survive a power cut (synchronous FULL) in WAL mode, wait for
// a busy lock instead of failing, keep temp tables in memory and free pages for reuse; the
// readers wait for a lock too and cannot write.
func TestSQLiteConnectionSettings(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		conn   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.w, "journal_mode", "wal"},
		{"writer", s.w, "synchronous", "2"}, // FULL
		{"writer", s.w, "busy_timeout", "10000"},
		{"writer", s.w, "foreign_keys", "1"},
		{"writer", s.w, "temp_store", "2"},  // MEMORY
		{"writer", s.w, "auto_vacuum", "2"}, // INCREMENTAL
		{"reader", s.r, "busy_timeout", "10000"},
		{"reader", s.r, "query_only", "1"},
	} {
		var got string
		if err := c.db.QueryRow(fmt.Sprintf("PRAGMA %s", c.pragma)).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", c.conn, c.pragma, err)
		}
		if got != c.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", c.conn, c.pragma, got, c.want)
		}
	}
	if _, err := s.r.Exec(`CREATE TABLE written_by_a_reader (x int)`); err == nil {
		t.Error("a reader connection wrote to the database")
	}
}
