package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// A record the store cannot read (here a pending event whose JSON is cut short) stops no
// other delivery: an event whose first delivery fails is retried and delivered, and the
// unreadable one is set aside as dead with the reason unreadable_record.
func TestUnreadableRecordSetAside(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	if err := s.p.Stop(); err != nil {
		t.Fatal(err)
	}
	const bad = "msg_0123456789abcdef0123456789abcdef"
	dir := filepath.Join(s.p.DataDir, "caddy", "antom", "events", "pending")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bad), []byte(`{"id":"`+bad+`","state":"pend`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.p.Restart()

	s.app.SetStatuses(http.StatusInternalServerError)
	body := whBody("UNREADABLE")
	id := whEventID(t, body)
	s.whNotify(body)
	whWaitDelivered(t, s.app, []string{id})
	whWaitState(t, s.p, id, "delivered")
	whCheckDeliveries(t, s.app, map[string][]byte{id: body}, true)

	var dead *whEvent
	waitFor(t, whWait, "the unreadable record listed as dead", func() bool {
		for _, ev := range whEvents(t, s.p, "dead") {
			if ev.ID == bad {
				dead = &ev
				return true
			}
		}
		return false
	})
	if !strings.Contains(dead.LastError, "unreadable_record") {
		t.Errorf("the unreadable record is dead with last error %q, want the reason unreadable_record", dead.LastError)
	}
}
