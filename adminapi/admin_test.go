package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// testApp is the running antom app as the admin endpoints see it: an event store and the
// names of its profiles.
type testApp struct {
	store    outbox.EventStore
	profiles []string
}

func (a *testApp) Store() outbox.EventStore { return a.store }
func (a *testApp) ProfileNames() []string   { return a.profiles }
func (*testApp) Kick()                      {}

// runApp makes app the running antom app until t ends.
func runApp(t *testing.T, app App) {
	prev := running
	SetRunning(func() App { return app })
	t.Cleanup(func() { SetRunning(prev) })
}

// adminGet calls the antom admin endpoint and returns the status and body (or error text).
func adminGet(t *testing.T, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	if err := (adminAPI{}).serve(w, httptest.NewRequest(http.MethodGet, path, nil)); err != nil {
		var apiErr caddy.APIError
		if errors.As(err, &apiErr) {
			return apiErr.HTTPStatus, err.Error()
		}
		return http.StatusInternalServerError, err.Error()
	}
	return w.Code, w.Body.String()
}

// GET /antom/payments lists payments by state, metadata only; /antom/payments/<id> shows one.
func TestAdminPayments(t *testing.T) {
	ctx := context.Background()
	app := &testApp{store: teststore.SQLite(t)}
	runApp(t, app)

	if code, body := adminGet(t, "/antom/payments"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("empty store: %d %s", code, body)
	}

	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	pending := &outbox.Payment{Profile: "default", PaymentRequestID: "req-1", Amount: outbox.Amount{Currency: "USD", Value: "1000"},
		CreatedAt: t0, NextInquiry: t0.Add(30 * time.Second)}
	done := &outbox.Payment{Profile: "default", PaymentRequestID: "req-2", CreatedAt: t0.Add(time.Second)}
	for _, p := range []*outbox.Payment{pending, done} {
		if _, err := app.store.AddPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.store.FinishPayment(ctx, done, "SUCCESS"); err != nil {
		t.Fatal(err)
	}

	for path, want := range map[string]string{
		"/antom/payments":               "req-1",
		"/antom/payments?state=pending": "req-1",
		"/antom/payments?state=done":    "req-2",
	} {
		code, body := adminGet(t, path)
		var ps []outbox.Payment
		if code != 200 || json.Unmarshal([]byte(body), &ps) != nil || len(ps) != 1 || ps[0].PaymentRequestID != want {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if code, body := adminGet(t, "/antom/payments/"+pending.ID); code != 200 ||
		!strings.Contains(body, `"paymentRequestId":"req-1"`) || !strings.Contains(body, `"state":"pending"`) {
		t.Errorf("one payment: %d %s", code, body)
	}
	for path, want := range map[string]int{
		"/antom/payments?state=dead":                          400,
		"/antom/payments?limit=0":                             400,
		"/antom/payments/pay_nothex":                          404,
		"/antom/payments/" + outbox.PaymentRecordID("x", "y"): 404,
	} {
		if code, body := adminGet(t, path); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
}
