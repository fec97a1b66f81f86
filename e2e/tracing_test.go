package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// traceEnv makes Caddy's `tracing` directive print every span to stdout (OpenTelemetry's
// console exporter), flushed every 100 ms.
var traceEnv = map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"}

// span is what the console exporter prints of one span.
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s span) attr(key string) any {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Value
		}
	}
	return nil
}

// spansOf returns the spans named name in trace traceID that caddy printed so far.
func spansOf(p *caddyProc, traceID, name string) []span {
	var found []span
	for _, line := range strings.Split(p.Logs(), "\n") {
		if !strings.HasPrefix(line, `{"Name":`) {
			continue
		}
		var s span
		if json.Unmarshal([]byte(line), &s) == nil && s.Name == name && s.SpanContext.TraceID == traceID {
			found = append(found, s)
		}
	}
	return found
}

// waitSpans waits until caddy printed n spans named name in trace traceID and returns them.
func waitSpans(t *testing.T, p *caddyProc, traceID, name string, n int) []span {
	t.Helper()
	var found []span
	waitFor(t, whWait, name+" spans in trace "+traceID, func() bool {
		found = spansOf(p, traceID, name)
		return len(found) >= n
	})
	return found
}

// traceparentIn checks that a forwarded request carries a traceparent in trace traceID and
// returns its parent span id.
func traceparentIn(t *testing.T, what string, r recordedRequest, traceID string) string {
	t.Helper()
	got := r.Header.Get("traceparent")
	m := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`).FindStringSubmatch(got)
	if m == nil || m[1] != traceID {
		t.Fatalf("%s: the app got traceparent %q, want one in trace %s", what, got, traceID)
	}
	return m[2]
}

// With Caddy's tracing directive, a notification's verification, storage and every delivery
// attempt are spans of the notification request's trace, the retry made in the background
// included, and each forwarded request carries a traceparent whose parent is its attempt's span,
// so the app's traces join Caddy's.
func TestWebhookTracing(t *testing.T) {
	t.Parallel()
	s := whStartWith(t, whConf{Site: "\ttracing"}, caddyOpts{Env: traceEnv})
	s.app.SetStatuses(http.StatusInternalServerError) // the first attempt fails, the retry succeeds
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := whBody("TRACE00001")
	h := signNotification(t, whNotifyPath, whClientID, antom.RequestTime(time.Now()), body)
	h.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	status, rh, resp := httpDo(t, http.MethodPost, s.Notify, h, body)
	whRequireAck(t, "traced notification", status, rh, resp)

	reqs := s.app.WaitRequests(2, whWait)
	var parents []string
	for i, r := range reqs {
		parents = append(parents, traceparentIn(t, "attempt "+r.Header.Get("Antom-Attempt"), r, traceID))
		if parents[i] == parentID {
			t.Fatalf("attempt %d: the traceparent's parent is the sender's span, want a span of Caddy's", i+1)
		}
	}
	waitSpans(t, s.p, traceID, "antom.verify", 1)
	waitSpans(t, s.p, traceID, "antom.store", 1)
	delivers := waitSpans(t, s.p, traceID, "antom.deliver", 2)
	for i, p := range parents {
		found := false
		for _, d := range delivers {
			found = found || d.SpanContext.SpanID == p
		}
		if !found {
			t.Errorf("attempt %d's traceparent names span %s, which is no antom.deliver span of the trace (%+v)", i+1, p, delivers)
		}
	}
}

// An antom_api call is a span of the app's request's trace, and the inquiries reconciliation
// makes about the payment later, in the background, join that trace, as does the delivery of
// the result they find.
func TestAPITracing(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m", Site: "\ttracing", Env: traceEnv})
	const traceID = "5cf92f3577b34da6a3ce929d0e0e4737"
	ref := apiUnique("trace")
	raw, _ := json.Marshal(rcSession(ref, "1000"))
	h := http.Header{"Content-Type": {"application/json"}, "traceparent": {"00-" + traceID + "-10f067aa0ba902b8-01"}}
	if status, _, resp := httpDo(t, http.MethodPost, s.api+"/antom/v1/payments/createPaymentSession", h, raw); status != http.StatusOK {
		t.Fatalf("createPaymentSession: HTTP %d %s", status, resp)
	}
	calls := waitSpans(t, s.p, traceID, "antom.api_call", 1)
	if api := calls[0].attr("antom.api"); api != "v1/payments/createPaymentSession" {
		t.Errorf("antom.api_call span's antom.api is %v, want v1/payments/createPaymentSession", api)
	}
	rcBuyer(t, s.sim, ref, "pay", "SUCCESS")

	r := s.app.WaitRequests(1, rcWait)[0]
	if src := r.Header.Get("Antom-Event-Source"); src != "inquiry" {
		t.Fatalf("the app got an event from %q, want the inquiry's", src)
	}
	traceparentIn(t, "the inquiry's result", r, traceID)
	inquiries := waitSpans(t, s.p, traceID, "antom.inquiry", 1)
	if got := inquiries[0].attr("antom.payment_request_id"); got != ref {
		t.Errorf("antom.inquiry span's antom.payment_request_id is %v, want %s", got, ref)
	}
}
