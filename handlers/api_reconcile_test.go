package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/reconcile"
	"github.com/caddy-antom/caddy-antom/simulator"
)

// apiTestApp is the antom app as antom_api sees it.
type apiTestApp struct {
	store      *sqlstore.Store
	client     *antom.Client
	reconciles map[string]reconcile.Config
	activities []*outbox.Activity
}

func (a *apiTestApp) Client(string) (*antom.Client, error) { return a.client, nil }
func (a *apiTestApp) Store() outbox.EventStore             { return a.store }
func (a *apiTestApp) RegisterRoute(delivery.Route)         {}
func (a *apiTestApp) DeliverNow(context.Context, *outbox.Event) delivery.Attempt {
	return delivery.Attempt{}
}
func (a *apiTestApp) ForwardFull(string) bool             { return false }
func (a *apiTestApp) Kick()                               {}
func (a *apiTestApp) Emit(string, map[string]any)         {}
func (a *apiTestApp) RecordActivity(act *outbox.Activity) { a.activities = append(a.activities, act) }
func (a *apiTestApp) AdmitUnverified() bool               { return true }
func (a *apiTestApp) RegisterReconcile(profile string, cfg reconcile.Config) {
	a.reconciles[profile] = cfg
}

func apiTestKey(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "antom-vectors", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apiWithSimulator is an antom_api handler (with rc as its reconcile setting) in front of the
// offline simulator, on a fresh store.
func apiWithSimulator(t *testing.T, rc *ReconcileConfig) (*API, *apiTestApp) {
	t.Helper()
	mk, err := antom.ParsePrivateKey(apiTestKey(t, "merchant_private_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sk, err := antom.ParsePrivateKey(apiTestKey(t, "antom_sim_private_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sim := simulator.NewServer(simulator.Config{Key: sk, DropNotifications: true,
		Merchants: []simulator.Merchant{{ClientID: "TEST_5X00000000000000", PublicKey: &mk.PublicKey}}})
	t.Cleanup(sim.Close)
	app := &apiTestApp{
		store:      teststore.SQLite(t),
		reconciles: map[string]reconcile.Config{},
		client: &antom.Client{Gateway: sim.URL, Signer: antom.Signer{ClientID: "TEST_5X00000000000000", Key: mk},
			AntomKeys: antom.NewKeyring(sim.PublicKey()), HTTP: &http.Client{Timeout: 10 * time.Second}},
	}
	h := &API{Profile: "default", Allow: defaultAllow, Timeout: caddy.Duration(10 * time.Second), MaxBody: defaultAPIMaxBody,
		Reconcile: rc, NotifyURL: "https://shop.example/antom/notify", app: app, client: app.client, log: zaptest.NewLogger(t)}
	if rc != nil {
		app.RegisterReconcile(h.Profile, rc.config())
	}
	return h, app
}

func postAPI(t *testing.T, h *API, api, body string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/antom/v1/payments/"+api, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", api, w.Code, w.Body)
	}
	return w.Body.String()
}

func pendingPayments(t *testing.T, app *apiTestApp) []*outbox.Payment {
	t.Helper()
	ps, err := app.store.ListPayments(context.Background(), outbox.StatePending, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// With `reconcile`, antom_api records every payment Antom accepted, and no refusal.
func TestAPIRecordsPaymentsForReconciliation(t *testing.T) {
	h, app := apiWithSimulator(t, &ReconcileConfig{})
	cashier := func(id, value string) string {
		return `{"productCode":"CASHIER_PAYMENT","paymentRequestId":"` + id + `","paymentAmount":{"currency":"USD","value":"` + value +
			`"},"paymentRedirectUrl":"https://shop.example/return"}`
	}
	before := time.Now()
	postAPI(t, h, "createPaymentSession", cashier("req-session", "1000"))
	postAPI(t, h, "pay", cashier("req-pay", "1100"))
	postAPI(t, h, "pay", cashier("req-refused", "14001"))         // magic: PROCESS_FAIL (F)
	postAPI(t, h, "createPaymentSession", cashier("req-bad", "")) // PARAM_ILLEGAL
	postAPI(t, h, "inquiryPayment", `{"paymentRequestId":"req-pay"}`)
	postAPI(t, h, "pay", cashier("req-pay", "1100")) // a retry records nothing new

	ps := pendingPayments(t, app)
	if len(ps) != 2 {
		t.Fatalf("recorded %d payments, want 2: %+v", len(ps), ps)
	}
	byReq := map[string]*outbox.Payment{}
	for _, p := range ps {
		byReq[p.PaymentRequestID] = p
	}
	s, p := byReq["req-session"], byReq["req-pay"]
	if s == nil || p == nil {
		t.Fatalf("recorded %+v", ps)
	}
	if s.Profile != "default" || s.Amount != (outbox.Amount{Currency: "USD", Value: "1000"}) || s.PaymentID != "" ||
		s.ExpiresAt.Sub(s.CreatedAt) < 13*time.Minute || s.ExpiresAt.Sub(s.CreatedAt) > 15*time.Minute ||
		s.NextInquiry != s.CreatedAt.Add(reconcile.DefaultAfter) || s.CreatedAt.Before(before) {
		t.Errorf("session payment %+v", s)
	}
	if p.PaymentID == "" || p.Amount.Value != "1100" || p.ID != outbox.PaymentRecordID("default", "req-pay") {
		t.Errorf("pay payment %+v", p)
	}
	if cfg := app.reconciles["default"]; cfg.After != reconcile.DefaultAfter || cfg.GiveUp != reconcile.DefaultGiveUp {
		t.Errorf("registered %+v", cfg)
	}
}

// Without `reconcile` nothing is recorded.
func TestAPIWithoutReconcileRecordsNothing(t *testing.T) {
	h, app := apiWithSimulator(t, nil)
	postAPI(t, h, "createPaymentSession", `{"productCode":"CASHIER_PAYMENT","paymentRequestId":"r1","paymentAmount":{"currency":"USD","value":"1000"},"paymentRedirectUrl":"https://shop.example/return"}`)
	if ps := pendingPayments(t, app); len(ps) != 0 {
		t.Fatalf("recorded %+v", ps)
	}
}

// A pay or createPaymentSession whose outcome is unclear is recorded too: it is what
// reconciliation exists for. Antom timing out (504 U), an unsigned U, a signed U: recorded; a
// refusal: not.
func TestAPIRecordsUnclearPayments(t *testing.T) {
	h, app := apiWithSimulator(t, &ReconcileConfig{})
	h.Timeout = caddy.Duration(300 * time.Millisecond)
	post := func(api, id, value string) int {
		body := `{"productCode":"CASHIER_PAYMENT","paymentRequestId":"` + id + `","paymentAmount":{"currency":"USD","value":"` + value +
			`"},"paymentRedirectUrl":"https://shop.example/return"}`
		r := httptest.NewRequest(http.MethodPost, "/antom/v1/payments/"+api, strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		return w.Code
	}
	// Magic amounts (simulator/README.md): 4003 answers too late, 4004 unsigned U, 4002 signed U, 4001 F.
	for _, c := range []struct {
		api, id, value string
		status         int
	}{
		{"pay", "req-timeout", "14003", http.StatusGatewayTimeout},
		{"createPaymentSession", "req-session-timeout", "24003", http.StatusGatewayTimeout},
		{"pay", "req-unsigned-u", "14004", http.StatusOK},
		{"pay", "req-signed-u", "14002", http.StatusOK},
		{"pay", "req-refused", "14001", http.StatusOK},
	} {
		if got := post(c.api, c.id, c.value); got != c.status {
			t.Fatalf("%s %s: HTTP %d, want %d", c.api, c.id, got, c.status)
		}
	}
	got := map[string]string{}
	for _, p := range pendingPayments(t, app) {
		got[p.PaymentRequestID] = p.LastResult
	}
	want := map[string]string{
		"req-timeout":         "pay: no trusted answer",
		"req-session-timeout": "createPaymentSession: no trusted answer",
		"req-unsigned-u":      "pay: UNKNOWN_EXCEPTION",
		"req-signed-u":        "pay: UNKNOWN_EXCEPTION",
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	for id, last := range want {
		if got[id] != last {
			t.Errorf("%s recorded with %q, want %q", id, got[id], last)
		}
	}
}
