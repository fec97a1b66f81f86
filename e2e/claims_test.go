package e2e

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to corrupt a record
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", to read and corrupt the default store

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
)

// twoForwards is one caddy with two antom_webhooks of the default profile: the stack's own
// (whNotifyPath, forwarding to its app, "A") and a second one (notifyB, forwarding to appB).
type twoForwards struct {
	*whStack
	appB    *fakeApp
	notifyB string
}

func startTwoForwards(t *testing.T, global string, env map[string]string) *twoForwards {
	t.Helper()
	appB := newFakeApp(t)
	site := fmt.Sprintf(`	antom_webhook /antom/notify-b {
		forward        %s/events
		forward_secret {env.ANTOM_FORWARD_SECRET}
		sync_timeout   1s
		max_age        2m
	}`, appB.URL)
	s := whStartWith(t, whConf{Global: global, Site: site}, caddyOpts{Env: env})
	return &twoForwards{whStack: s, appB: appB, notifyB: s.Base + "/antom/notify-b"}
}

// Forward A is paused with 1,000 events waiting; forward B's app fails B's first delivery: B's
// retry is delivered while A stays paused. A claim that takes A's events only to pass over
// them must not keep B's due retry out of reach.
func TestForwardsDoNotHoldEachOtherUp(t *testing.T) {
	t.Parallel()
	testForwardsIndependent(t, startTwoForwards(t, "", nil))
}

// The same on PostgreSQL.
func TestPostgresStoreForwardsDoNotHoldEachOtherUp(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t).DSN()
	testForwardsIndependent(t, startTwoForwards(t, `	antom_store postgres {
		dsn {env.ANTOM_DATABASE_URL}
	}`, map[string]string{"ANTOM_DATABASE_URL": dsn}))
}

func testForwardsIndependent(t *testing.T, s *twoForwards) {
	t.Helper()
	forwardA := s.conf.AppURL + s.conf.ForwardPath
	if status, resp := s.p.AdminDo(http.MethodPost, "/antom/forwards/pause?forward="+url.QueryEscape(forwardA), "", nil); status != http.StatusOK {
		t.Fatalf("pausing forward A: HTTP %d %s", status, resp)
	}
	bodies, _ := whBurstBodies(t, "HOLDA", 1000)
	whBurst(t, s.whStack, bodies, 16)

	s.appB.SetStatuses(http.StatusInternalServerError)
	body := whBody("RETRYB")
	id := whEventID(t, body)
	status, h, resp := postNotification(t, s.notifyB, whClientID, body)
	whRequireAck(t, "notification for forward B", status, h, resp)
	whWaitDelivered(t, s.appB, []string{id})
	whCheckDeliveries(t, s.appB, map[string][]byte{id: body}, true)
	if n := len(s.appB.Requests()); n != 2 {
		t.Errorf("forward B's app got %d requests, want 2 (the failed first attempt, then the retry)", n)
	}
	if n := s.app.Len(); n != 0 {
		t.Fatalf("paused forward A's app got %d deliveries", n)
	}
}

// A record the store cannot read (here a pending event whose stored document is cut short)
// stops no other delivery: an event whose first delivery fails is retried and delivered, and
// the unreadable one is set aside as dead, counted and logged once with the reason
// unreadable_record; the dead lists show it (the admin API, `caddy antom events --state dead`
// and the console) with its id, forward, receipt time and what to do, and no body.
func TestUnreadableRecordSetAside(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{Site: "\thandle /ops/* {\n\t\tantom_console\n\t}"})
	testUnreadableRecord(t, s, s.Base+"/ops/", func(id string) {
		if err := s.p.Stop(); err != nil {
			t.Fatal(err)
		}
		db := eventsDB(t, s.p.DataDir)
		corrupt(t, db, `UPDATE antom_events SET doc = '{"id":"cut short' WHERE id = ?`, id)
		s.p.Restart()
	})
}

// The same on PostgreSQL, the record corrupted while caddy runs.
func TestPostgresStoreUnreadableRecordSetAside(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 1)
	testUnreadableRecord(t, c.nodes[0], "", func(id string) {
		db, err := sql.Open("pgx", c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// Only while no claim holds it: a delivery under way would write the event back whole.
		waitFor(t, whWait, "the pending record corrupted between two claims", func() bool {
			res, err := db.Exec(`UPDATE antom_events SET doc = '{"id": "cut short"}'
				WHERE id = $1 AND state = 'pending' AND (claim IS NULL OR lease_until <= now())`, id)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := res.RowsAffected()
			return n == 1
		})
	})
}

// testUnreadableRecord stores an event the app refuses, has breakRecord corrupt it, and then
// checks that another event's retry is delivered and the broken one is set aside and listed
// dead, also in the console at console ("": none).
func testUnreadableRecord(t *testing.T, s *whStack, console string, breakRecord func(id string)) {
	t.Helper()
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	broken := whBody("UNREADABLE1")
	bad := whEventID(t, broken)
	s.whNotify(broken)
	whWaitState(t, s.p, bad, "pending")
	breakRecord(bad)

	s.app.SetDefaultStatus(http.StatusOK)
	s.app.SetStatuses(http.StatusInternalServerError)
	body := whBody("READABLE1")
	id := whEventID(t, body)
	s.whNotify(body)
	whWaitDelivered(t, s.app, []string{id})
	whWaitState(t, s.p, id, "delivered")

	// Set aside dead, counted, and logged once with its id and reason.
	waitFor(t, whWait, "the unreadable record counted dead in /metrics", func() bool {
		m := string(s.p.AdminGet("/metrics"))
		return strings.Contains(m, "\ncaddy_antom_unreadable_records_total 1\n") && strings.Contains(m, `caddy_antom_events{state="dead"} 1`)
	})
	logged := 0
	for _, e := range s.p.LogEntries() {
		if e["id"] == bad && strings.Contains(fmt.Sprint(e["msg"]), "unreadable_record") {
			logged++
		}
	}
	if logged != 1 {
		t.Errorf("caddy logged %d lines setting the unreadable record %s aside (unreadable_record), want 1", logged, bad)
	}
	checkUnreadableListed(t, s, console, bad)
}

// checkUnreadableListed checks that the dead lists show the unreadable record bad: its id,
// forward, receipt time and what to do, no body.
func checkUnreadableListed(t *testing.T, s *whStack, console, bad string) {
	t.Helper()
	const advice = "unreadable_record: fix or delete its row in antom_events"
	var forwards []struct {
		Route string `json:"route"`
	}
	s.p.AdminGetJSON("/antom/forwards", &forwards)
	var dead []struct {
		ID         string    `json:"id"`
		Route      string    `json:"route"`
		ReceivedAt time.Time `json:"receivedAt"`
		LastError  string    `json:"lastError"`
		Unreadable bool      `json:"unreadable"`
		BodySize   int       `json:"bodySize"`
	}
	s.p.AdminGetJSON("/antom/events?state=dead", &dead)
	if len(dead) != 1 || len(forwards) != 1 || dead[0].ID != bad || !dead[0].Unreadable || dead[0].Route != forwards[0].Route ||
		time.Since(dead[0].ReceivedAt) > 10*time.Minute || !strings.HasPrefix(dead[0].LastError, advice) || dead[0].BodySize != 0 {
		t.Errorf("GET /antom/events?state=dead = %+v (forwards %+v); want the unreadable record %s with its forward, receipt time and %q, no body",
			dead, forwards, bad, advice)
	}
	out, err := runCaddy(t, nil, "antom", "events", "--state", "dead", "--admin", s.p.Admin)
	if err != nil || !strings.Contains(out, bad) || !strings.Contains(out, advice) {
		t.Errorf("caddy antom events --state dead: %v\n%s\nwant the unreadable record %s with %q", err, out, bad, advice)
	}
	if console == "" {
		return
	}
	resp, err := http.Get(console + "?view=dead")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), bad) || !strings.Contains(string(page), advice) {
		t.Errorf("the console's dead list (HTTP %d) does not show the unreadable record %s with %q:\n%s", resp.StatusCode, bad, advice, page)
	}
}

// eventsDB opens the default SQLite event database in a caddy's data directory (stopped, or
// running: SQLite's WAL lets another process in).
func eventsDB(t *testing.T, dataDir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "caddy", "antom", "events.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// corrupt runs one UPDATE that must change exactly one row.
func corrupt(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", q, n)
	}
}
