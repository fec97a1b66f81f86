package e2e

import (
	"strings"
	"testing"
	"time"
)

// Pause through the CLI: a burst of notifications is acknowledged and stored but nothing
// reaches the app, also after a restart; after resume every event arrives exactly once.
func TestWebhookPauseResume(t *testing.T) {
	t.Parallel()
	testPauseResume(t, whStart(t, whConf{}))
}

// The same on PostgreSQL with two instances, each with its own Caddy storage: the pause made
// through one instance holds the other's deliveries too (the pause lives in the database), and
// leases must not keep the paused events from delivery after resume.
func TestPostgresStorePauseResume(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 2)
	testPauseResume(t, c.nodes[0], c.nodes[1])
}

// testPauseResume pauses and resumes the forward through control's admin API and sends the
// notifications to s (control itself, or another instance of its store).
func testPauseResume(t *testing.T, control *whStack, others ...*whStack) {
	s := control
	if len(others) > 0 {
		s = others[0]
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := runCaddy(t, nil, append([]string{"antom"}, append(args, "--admin", control.p.Admin)...)...)
		if err != nil {
			t.Fatalf("caddy antom %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	forward := s.conf.AppURL + s.conf.ForwardPath
	if out := cli("pause", "--forward", forward); !strings.Contains(out, "paused\t"+forward) {
		t.Fatalf("caddy antom pause printed %q, want the forward paused", out)
	}
	waitFor(t, whWait, "the forward paused on every instance (GET /antom/forwards)", func() bool {
		return forwardPaused(t, s, forward)
	})

	bodies, ids := whBurstBodies(t, "PAUSE", 20)
	whBurst(t, s, bodies, 5)
	for _, id := range ids {
		whWaitState(t, s.p, id, "pending")
	}
	s.app.Never(2 * time.Second)

	s.p.Restart()
	if !forwardPaused(t, s, forward) {
		t.Fatalf("after the restart GET /antom/forwards says %s is not paused", forward)
	}
	// The events are due (a paused first attempt hands them to the background at once), so a
	// lost pause would deliver them right away.
	s.app.Never(2 * time.Second)
	if n := s.app.Len(); n != 0 {
		t.Fatalf("the app got %d deliveries while its forward was paused", n)
	}

	if out := cli("resume"); !strings.Contains(out, "delivering\t"+forward) {
		t.Fatalf("caddy antom resume printed %q, want the forward delivering", out)
	}
	want := map[string][]byte{}
	for i, id := range ids {
		want[id] = bodies[i]
	}
	whWaitDelivered(t, s.app, ids)
	whCheckDeliveries(t, s.app, want, true)
}

// forwardPaused reports whether s's admin API says its one forward, forward, is paused.
func forwardPaused(t *testing.T, s *whStack, forward string) bool {
	t.Helper()
	var forwards []struct {
		URL    string `json:"url"`
		Paused bool   `json:"paused"`
	}
	s.p.AdminGetJSON("/antom/forwards", &forwards)
	if len(forwards) != 1 || forwards[0].URL != forward {
		t.Fatalf("GET /antom/forwards = %+v, want the one forward %s", forwards, forward)
	}
	return forwards[0].Paused
}
