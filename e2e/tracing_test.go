package e2e

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// With Caddy's tracing directive, the forwarded request carries a W3C traceparent in the trace
// of the notification's request, so the app's traces join Caddy's.
func TestWebhookTraceparent(t *testing.T) {
	t.Parallel()
	s := whStartWith(t, whConf{Site: "\ttracing"},
		caddyOpts{Env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}}) // spans are made, not exported
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := whBody("TRACE00001")
	h := signNotification(t, whNotifyPath, whClientID, antom.RequestTime(time.Now()), body)
	h.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	status, rh, resp := httpDo(t, http.MethodPost, s.Notify, h, body)
	whRequireAck(t, "traced notification", status, rh, resp)

	r := s.app.WaitRequests(1, whWait)[0]
	got := r.Header.Get("traceparent")
	m := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`).FindStringSubmatch(got)
	if m == nil || m[1] != traceID || m[2] == parentID {
		t.Fatalf("the app got traceparent %q, want trace %s with a span of Caddy's as parent", got, traceID)
	}
}
