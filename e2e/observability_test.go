package e2e

import (
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
