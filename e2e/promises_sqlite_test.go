package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// The README's `sqlite` store: the default database is antom/events.db in Caddy's data
// directory, in WAL mode (the -wal file beside it while caddy runs) with
// auto_vacuum=INCREMENTAL, set by the caddy binary on the file it creates. (synchronous=FULL,
// busy_timeout and BEGIN IMMEDIATE are settings of caddy's own connection, which another
// process cannot read.)
func TestSQLiteStoreFileSettings(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	body := whBody("PRAGMA01")
	s.whNotify(body)
	whWaitState(t, s.p, whEventID(t, body), "delivered")

	path := filepath.Join(s.p.DataDir, "caddy", "antom", "events.db")
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log beside the event database while caddy runs: %v", err)
	}
	check := func(when string) {
		t.Helper()
		db := eventsDB(t, s.p.DataDir)
		for pragma, want := range map[string]string{"journal_mode": "wal", "auto_vacuum": "2"} {
			var got string
			if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s on %s: %v", pragma, path, err)
			}
			if got != want {
				t.Errorf("%s: PRAGMA %s of the event database is %q, want %q", when, pragma, got, want)
			}
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM antom_events").Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: the event database holds %d events (%v), want the one notified", when, n, err)
		}
	}
	check("while caddy runs")
	if err := s.p.Stop(); err != nil {
		t.Fatalf("stopping caddy: %v", err)
	}
	check("after caddy stopped")
}
