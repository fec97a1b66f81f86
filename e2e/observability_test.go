package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWebhookMetricsAndEvents checks what the README promises operators: the Prometheus series on
// Caddy's metrics endpoint and the Caddy events, for an accepted, a duplicate and a rejected
// notification. With `debug`, Caddy's events app logs every event it emits.
func TestWebhookMetricsAndEvents(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{Global: "\tdebug\n\tmetrics"})
	body := whBody("OBS1")
	s.whNotify(body)
	s.whNotify(body) // Antom's retry: acknowledged, not delivered again
	s.app.WaitRequests(1, whWait)
	if status, _, _ := postNotification(t, s.Notify, "TEST_SOMEONE_ELSE", body); status != http.StatusUnauthorized {
		t.Fatalf("a notification for another client id got HTTP %d, want 401", status)
	}

	want := []string{
		`caddy_antom_notifications_total{outcome="accepted"} 1`,
		`caddy_antom_notifications_total{outcome="duplicate"} 1`,
		`caddy_antom_notifications_total{outcome="rejected_client_id_mismatch"} 1`,
		`caddy_antom_deliveries_total{outcome="delivered"} 1`,
		`caddy_antom_delivery_duration_seconds_count 1`,
	}
	var metrics string
	waitFor(t, whWait, "the antom metrics", func() bool {
		metrics = string(s.p.AdminGet("/metrics"))
		for _, w := range want {
			if !strings.Contains(metrics, w) {
				return false
			}
		}
		return true
	})

	for _, event := range []string{"antom.notification_verified", "antom.event_delivered", "antom.notification_rejected"} {
		s.p.WaitLog(`"name":"`+event+`"`, 30*time.Second)
	}
	if strings.Contains(s.p.Logs(), whSecret()) {
		t.Fatal("the forward secret appears in the logs")
	}
}

// A forward whose deliveries keep failing is announced once (antom.forward_failing, with the
// last error) and shows as failing in GET /antom/forwards with its oldest pending event's age;
// when the app answers again, antom.forward_recovered follows and the forward is healthy.
func TestWebhookForwardHealth(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{Global: "\tdebug\n\tmetrics"})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	for i := range 5 {
		s.whNotify(whBody(fmt.Sprintf("HEALTH%d", i)))
	}
	s.p.WaitLog(`"name":"antom.forward_failing"`, 30*time.Second)

	type forward struct {
		Failing                 bool    `json:"failing"`
		ConsecutiveFailures     int     `json:"consecutive_failures"`
		LastError               string  `json:"last_error"`
		OldestPendingAgeSeconds float64 `json:"oldest_pending_age_seconds"`
	}
	var forwards []forward
	s.p.AdminGetJSON("/antom/forwards", &forwards)
	if len(forwards) != 1 || !forwards[0].Failing || forwards[0].ConsecutiveFailures < 5 ||
		!strings.Contains(forwards[0].LastError, "500") || forwards[0].OldestPendingAgeSeconds <= 0 {
		t.Fatalf("GET /antom/forwards while the app fails: %+v", forwards)
	}
	if m := string(s.p.AdminGet("/metrics")); !strings.Contains(m, `caddy_antom_oldest_pending_age_seconds{route="rt_`) {
		t.Errorf("no oldest-pending gauge per forward in the metrics")
	}

	s.app.SetDefaultStatus(http.StatusOK)
	s.p.WaitLog(`"name":"antom.forward_recovered"`, 60*time.Second)
	s.p.AdminGetJSON("/antom/forwards", &forwards)
	if len(forwards) != 1 || forwards[0].Failing || forwards[0].ConsecutiveFailures != 0 {
		t.Fatalf("GET /antom/forwards after recovery: %+v", forwards)
	}
	if n := strings.Count(s.p.Logs(), `"name":"antom.forward_failing"`); n != 1 {
		t.Errorf("antom.forward_failing emitted %d times, want once", n)
	}
}
