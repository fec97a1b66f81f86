package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// consoleTestApp is the antom app as the console sees it, with one forward.
type consoleTestApp struct {
	apiTestApp
	kicks  int
	paused bool
}

const consoleTestRoute = "rt_0123456789abcdef"

func (a *consoleTestApp) Kick()                  { a.kicks++ }
func (a *consoleTestApp) ProfileNames() []string { return []string{"default"} }
func (a *consoleTestApp) Forwards() []Forward {
	return []Forward{{Route: consoleTestRoute, Profile: "default", URL: "http://127.0.0.1:9000/antom", Paused: a.paused}}
}

func (a *consoleTestApp) PauseForward(_ context.Context, route string, pause bool) error {
	if route != consoleTestRoute {
		return fmt.Errorf("no forward %q", route)
	}
	a.paused = pause
	return nil
}

// newTestConsole returns a console on an empty store of its own.
func newTestConsole(t *testing.T) (*Console, *consoleTestApp) {
	t.Helper()
	app := &consoleTestApp{apiTestApp: apiTestApp{store: teststore.SQLite(t)}}
	c := &Console{}
	if err := c.setup(app); err != nil {
		t.Fatal(err)
	}
	return c, app
}

func consoleGet(t *testing.T, c *Console, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://ops.example.com"+target, nil), nil); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return w
}

// The console finds a payment by its order number, shows its timeline and an event's attempts
// without the body, and replays a dead event only from its own form.
func TestConsole(t *testing.T) {
	ctx := context.Background()
	c, app := newTestConsole(t)
	now := time.Now()
	ev := &outbox.Event{Profile: "default", Route: "rt_0123456789abcdef", Source: outbox.SourceNotification,
		Type: "PAYMENT_RESULT", ResultStatus: "S", RequestIDField: "paymentRequestId", RequestID: "ORDER-42",
		DedupKey: "k", ReceivedAt: now.Add(-time.Hour),
		Body: []byte(`{"paymentRequestId":"ORDER-42","paymentId":"P42","paymentMethod":{"card":{"cardNo":"4111111111111111"}}}`)}
	if _, err := app.store.Add(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := app.store.Reschedule(ctx, ev, now, "connection refused", 0); err != nil {
		t.Fatal(err)
	}
	retried := ev.History[len(ev.History)-1].At
	ev.LastStatus = 500
	if err := app.store.MarkDead(ctx, ev, retried, "HTTP 500 from the app"); err != nil {
		t.Fatal(err)
	}

	w := consoleGet(t, c, "/ops/")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "rt_0123456789abcdef") || !strings.Contains(body, "<svg") ||
		!strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("health page: %d\n%s", w.Code, body)
	}
	// One failed attempt and the death count as failures of the hour they happened in.
	fh, err := c.health(ctx, retried)
	if err != nil || len(fh) != 1 || fh[0].Dead != 1 || fh[0].Pending != 0 || fh[0].Failed24h != 2 || fh[0].Delivered24h != 0 ||
		fh[0].Failed[23] != 2 || fh[0].ChartBars[23].FailedH != chartHeight {
		t.Fatalf("health = %+v, %v", fh, err)
	}
	if body := consoleGet(t, c, "/ops/?view=events&requestId=ORDER-42").Body.String(); !strings.Contains(body, ev.ID) {
		t.Fatalf("search by order number:\n%s", body)
	}
	if body := consoleGet(t, c, "/ops/?view=events&requestId=ORDER-43").Body.String(); strings.Contains(body, ev.ID) {
		t.Fatalf("search for another order shows the event:\n%s", body)
	}
	body = consoleGet(t, c, "/ops/?view=timeline&paymentRequestId=ORDER-42").Body.String()
	if !strings.Contains(body, "notification") || !strings.Contains(body, "connection refused") || !strings.Contains(body, "P42") {
		t.Fatalf("timeline:\n%s", body)
	}
	w = consoleGet(t, c, "/ops/?view=event&id="+ev.ID)
	body = w.Body.String()
	if !strings.Contains(body, "HTTP 500 from the app") || strings.Contains(body, "4111") || strings.Contains(body, "paymentMethod") {
		t.Fatalf("event page (bodies hidden):\n%s", body)
	}
	cookie := w.Result().Cookies()[0]
	token := cookie.Value

	post := func(form url.Values, header http.Header, withCookie bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "https://ops.example.com/ops/", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			r.Header[k] = v
		}
		if withCookie {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		if err := c.ServeHTTP(w, r, nil); err != nil {
			w.Code = 0
			w.Body.WriteString(err.Error())
		}
		return w
	}
	replay := url.Values{"action": {"replay"}, "id": {ev.ID}, "csrf": {token}}
	for name, tc := range map[string]struct {
		form   url.Values
		header http.Header
		cookie bool
	}{
		"cross-site":     {replay, http.Header{"Sec-Fetch-Site": {"cross-site"}}, true},
		"foreign origin": {replay, http.Header{"Origin": {"https://evil.example"}}, true},
		"no cookie":      {replay, nil, false},
		"wrong token":    {url.Values{"action": {"replay"}, "id": {ev.ID}, "csrf": {strings.Repeat("0", 64)}}, nil, true},
	} {
		if w := post(tc.form, tc.header, tc.cookie); w.Code != 0 || !strings.Contains(w.Body.String(), "refused") && !strings.Contains(w.Body.String(), "token") {
			t.Errorf("%s POST was not refused: %d %s", name, w.Code, w.Body.String())
		}
	}
	if got, _ := app.store.Get(ctx, ev.ID); got.State != outbox.StateDead || app.kicks != 0 {
		t.Fatalf("a refused POST replayed the event: %s", got.State)
	}
	w = post(replay, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"https://ops.example.com"}}, true)
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "view=event") {
		t.Fatalf("replay: %d %v", w.Code, w.Header())
	}
	if got, _ := app.store.Get(ctx, ev.ID); got.State != outbox.StatePending || app.kicks != 1 {
		t.Fatalf("after the replay the event is %s, %d kicks", got.State, app.kicks)
	}

	// show_bodies shows the body with card data redacted.
	c.ShowBodies = true
	body = consoleGet(t, c, "/ops/?view=event&id="+ev.ID).Body.String()
	if !strings.Contains(body, "ORDER-42") || !strings.Contains(body, "paymentMethod") || strings.Contains(body, "4111111111111111") {
		t.Fatalf("event page with show_bodies:\n%s", body)
	}
}

func TestConsoleCaddyfile(t *testing.T) {
	var c Console
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser("antom_console {\n show_bodies\n}")); err != nil || !c.ShowBodies {
		t.Fatalf("show_bodies: %v, %+v", err, c)
	}
	err := new(Console).UnmarshalCaddyfile(caddyfile.NewTestDispenser("antom_console {\n secret x\n}"))
	if err == nil || !strings.Contains(err.Error(), "unrecognized antom_console option 'secret'") {
		t.Fatalf("an unknown option: %v", err)
	}
}

// Under handle_path the console's links keep the prefix the browser used.
func TestConsoleLinksUnderHandlePath(t *testing.T) {
	c, _ := newTestConsole(t)
	orig := httptest.NewRequest(http.MethodGet, "https://ops.example.com/ops/", nil)
	r := orig.WithContext(context.WithValue(orig.Context(), caddyhttp.OriginalRequestCtxKey, *orig.Clone(orig.Context())))
	r.URL.Path = "/" // what handle_path /ops/* leaves
	w := httptest.NewRecorder()
	if err := c.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	if body := w.Body.String(); !strings.Contains(body, `href="/ops/?view=events"`) || strings.Contains(body, `href="/?view`) {
		t.Fatalf("links lost the prefix:\n%s", body)
	}
}

// A forward is paused and resumed from the health page's forms, which carry the page's token; a
// cross-site POST or one without the token changes nothing.
func TestConsolePauseResume(t *testing.T) {
	c, app := newTestConsole(t)
	w := consoleGet(t, c, "/ops/")
	if body := w.Body.String(); !strings.Contains(body, "http://127.0.0.1:9000/antom") || !strings.Contains(body, ">delivering<") ||
		!strings.Contains(body, `name="action" value="pause"`) {
		t.Fatalf("the health page does not offer to pause the forward (without events yet):\n%s", body)
	}
	cookie := w.Result().Cookies()[0]
	post := func(action, token string, header http.Header) (int, string) {
		form := url.Values{"action": {action}, "route": {consoleTestRoute}, "csrf": {token}}
		r := httptest.NewRequest(http.MethodPost, "https://ops.example.com/ops/", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			r.Header[k] = v
		}
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		if err := c.ServeHTTP(w, r, nil); err != nil {
			return 0, err.Error()
		}
		return w.Code, w.Header().Get("Location")
	}
	if code, msg := post("pause", cookie.Value, http.Header{"Sec-Fetch-Site": {"cross-site"}}); code != 0 || !strings.Contains(msg, "cross-site request refused") || app.paused {
		t.Fatalf("a cross-site pause: %d %s, paused %v", code, msg, app.paused)
	}
	if code, msg := post("pause", strings.Repeat("0", 64), nil); code != 0 || !strings.Contains(msg, "token") || app.paused {
		t.Fatalf("a pause with a wrong token: %d %s, paused %v", code, msg, app.paused)
	}
	if code, loc := post("pause", cookie.Value, nil); code != http.StatusSeeOther || !strings.Contains(loc, "paused+"+consoleTestRoute) || !app.paused {
		t.Fatalf("pause: %d %s, paused %v", code, loc, app.paused)
	}
	if body := consoleGet(t, c, "/ops/").Body.String(); !strings.Contains(body, ">paused<") || !strings.Contains(body, `name="action" value="resume"`) {
		t.Fatalf("the health page does not show the forward paused:\n%s", body)
	}
	if code, loc := post("resume", cookie.Value, nil); code != http.StatusSeeOther || !strings.Contains(loc, "resumed+"+consoleTestRoute) || app.paused {
		t.Fatalf("resume: %d %s, paused %v", code, loc, app.paused)
	}
}

// The health page shows each outcome on the next load, in the hour it happened, whenever its
// event was received (here three days before: the chart read the events received in the last
// two days, recounted at most once a minute).
func TestConsoleHealthShowsEveryOutcome(t *testing.T) {
	ctx := context.Background()
	c, app := newTestConsole(t)
	check := func(at time.Time, pending, delivered, failed int) {
		t.Helper()
		fh, err := c.health(ctx, at)
		if err != nil || len(fh) != 1 {
			t.Fatalf("health at %v = %+v, %v; want one forward", at, fh, err)
		}
		if h := fh[0]; h.Pending != pending || h.Delivered24h != delivered || h.Failed24h != failed ||
			h.Delivered[23] != delivered || h.Failed[23] != failed {
			t.Fatalf("health at %v: %d pending, %d delivered and %d failed in 24 h, %d and %d in the last hour; want %d, %d and %d",
				at, h.Pending, h.Delivered24h, h.Failed24h, h.Delivered[23], h.Failed[23], pending, delivered, failed)
		}
	}
	check(time.Now(), 0, 0, 0)
	ev := &outbox.Event{Profile: "default", Route: consoleTestRoute, Source: outbox.SourceNotification, Type: "PAYMENT_RESULT",
		DedupKey: "old", ReceivedAt: time.Now().Add(-72 * time.Hour), Body: []byte(`{}`)}
	if _, err := app.store.Add(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := app.store.Reschedule(ctx, ev, time.Now(), "HTTP 500", 500); err != nil {
		t.Fatal(err)
	}
	retried := ev.History[len(ev.History)-1].At
	check(retried, 1, 0, 1)
	if err := app.store.MarkDelivered(ctx, ev, retried); err != nil {
		t.Fatal(err)
	}
	check(retried, 0, 1, 1)
}

// A payment's timeline in the console shows the reconciliation records of its refund and of
// its automatic capture, and the refund's inquiries, next to the payment's own.
func TestConsoleTimelineShowsRefundAndCaptureRecords(t *testing.T) {
	ctx := context.Background()
	c, app := newTestConsole(t)
	t0 := time.Now().Add(-time.Hour)
	records := []*outbox.Payment{
		{Profile: "default", PaymentRequestID: "ORDER-7", PaymentID: "P7", Amount: outbox.Amount{Currency: "USD", Value: "3000"}, CreatedAt: t0},
		{ID: outbox.AutoCaptureRecordID("default", "ORDER-7"), Kind: outbox.RecordCapture, Profile: "default", PaymentRequestID: "ORDER-7",
			PaymentID: "P7", Amount: outbox.Amount{Currency: "USD", Value: "3000"}, CreatedAt: t0},
		{ID: outbox.RefundRecordID("default", "RF-7"), Kind: outbox.RecordRefund, Profile: "default", RefundRequestID: "RF-7",
			PaymentID: "P7", Amount: outbox.Amount{Currency: "USD", Value: "400"}, CreatedAt: t0.Add(time.Minute)},
	}
	for _, p := range records {
		if _, err := app.store.AddPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	act := outbox.NewActivity(outbox.ActivityInquiry, t0.Add(2*time.Minute))
	act.Profile, act.API, act.Result = "default", "v1/payments/inquiryRefund", "inquiry: refund SUCCESS"
	act.Name("paymentId", "P7")
	act.Name("refundRequestId", "RF-7")
	if err := app.store.AddActivity(ctx, act); err != nil {
		t.Fatal(err)
	}
	body := consoleGet(t, c, "/ops/?view=timeline&paymentRequestId=ORDER-7").Body.String()
	for _, want := range []string{"reconciliation of the payment of 3000 USD", "reconciliation of the capture of 3000 USD",
		"reconciliation of the refund of 400 USD", "v1/payments/inquiryRefund", "inquiry: refund SUCCESS"} {
		if !strings.Contains(body, want) {
			t.Errorf("the timeline does not show %q:\n%s", want, body)
		}
	}
}
