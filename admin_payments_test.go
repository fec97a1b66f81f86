package caddyantom

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
	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/reconcile"
)

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
	app := &App{store: teststore.SQLite(t)}
	running.Store(app)
	t.Cleanup(func() { running.CompareAndSwap(app, nil) })

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

// antom_api handlers register their reconcile settings; the worker sees them with the
// profile's client, and nothing for other profiles.
func TestRegisterReconcile(t *testing.T) {
	client := &antom.Client{}
	app := &App{
		Profiles:   map[string]*Profile{"default": {client: client}, "other": {client: &antom.Client{}}},
		reconciles: map[string]reconcile.Config{},
		log:        zaptest.NewLogger(t),
	}
	cfg := reconcile.Config{After: time.Minute, GiveUp: time.Hour, CancelUnpaid: true}
	app.RegisterReconcile("default", cfg)
	p, ok := app.reconcileProfile("default")
	if !ok || p.Client != client || p.Config != cfg {
		t.Errorf("reconcileProfile(default) = %+v, %v", p, ok)
	}
	if _, ok := app.reconcileProfile("other"); ok {
		t.Error("a profile without reconcile is reconciled")
	}
	if _, ok := app.reconcileProfile("missing"); ok {
		t.Error("an unknown profile is reconciled")
	}
	if got := app.reconcileProfiles(); len(got) != 1 || got[0] != "default" {
		t.Errorf("reconcileProfiles = %v", got)
	}
}
