package reconcile

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/simulator"
)

const (
	testClientID = "TEST_5X00000000000000"
	testProfile  = "default"
	notifyURL    = "https://shop.example/antom/notify"
)

// vectorsDir holds the golden vectors, testdata/antom-vectors at the repository root.
var vectorsDir = filepath.Join("..", "testdata", "antom-vectors")

func readKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, "keys", name))
	if err != nil {
		t.Fatalf("golden vector %s: %v", name, err)
	}
	k, err := antom.ParsePrivateKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clock is the shared fake clock of the simulator and the worker; with real set it is the
// wall clock.
type clock struct {
	ns   atomic.Int64
	real bool
}

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time {
	if c.real {
		return time.Now()
	}
	return time.Unix(0, c.ns.Load()).UTC()
}

func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time) {
	if n := t.UnixNano(); n > c.ns.Load() {
		c.ns.Store(n)
	}
}

// countingCaller wraps a Caller and counts the calls per API.
type countingCaller struct {
	Caller
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingCaller) Call(ctx context.Context, api string, body []byte) (*antom.Response, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[api]++
	c.mu.Unlock()
	return c.Caller.Call(ctx, api, body)
}

func (c *countingCaller) count(api string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls["v1/payments/"+api]
}

// env is an offline Antom (the simulator, dropping notifications), a merchant client, a store
// on a temporary directory and a worker on the shared fake clock.
type env struct {
	t       *testing.T
	clock   *clock
	sim     *simulator.Server
	client  *antom.Client
	caller  *countingCaller
	dir     string
	store   *sqlstore.Store
	cfg     Config
	route   string
	routeOK bool
	// unordered is the route's ordering off
	unordered bool
	worker    *Worker

	mu        sync.Mutex
	finished  map[string]string // payment id -> by
	cancels   []string
	inquiries []inquiryAt
}

type inquiryAt struct {
	at      time.Time
	outcome string
}

func newEnv(t *testing.T, cfg Config) *env {
	return newEnvClock(t, cfg, newClock())
}

func newEnvClock(t *testing.T, cfg Config, c *clock) *env {
	t.Helper()
	e := &env{t: t, clock: c, cfg: cfg, dir: t.TempDir(), routeOK: true,
		route: delivery.RouteID(testProfile, "http://127.0.0.1/app"), finished: map[string]string{}}
	mk := readKey(t, "merchant_private_pkcs8.pem")
	e.sim = simulator.NewServer(simulator.Config{
		Key:               readKey(t, "antom_sim_private_pkcs8.pem"),
		Merchants:         []simulator.Merchant{{ClientID: testClientID, PublicKey: &mk.PublicKey}},
		DropNotifications: true,
		Now:               e.clock.Now,
	})
	t.Cleanup(e.sim.Close)
	e.client = &antom.Client{
		Gateway:   e.sim.URL,
		Signer:    antom.Signer{ClientID: testClientID, Key: mk},
		AntomKeys: antom.NewKeyring(e.sim.PublicKey()),
		HTTP:      &http.Client{Timeout: 10 * time.Second},
	}
	e.caller = &countingCaller{Caller: e.client}
	e.restart()
	return e
}

// restart replaces the store and the worker with new ones on the same database file, as a
// Caddy restart or reload does.
func (e *env) restart() {
	if e.store != nil {
		e.store.Close()
	}
	e.store = teststore.OpenSQLite(e.t, filepath.Join(e.dir, "events.db"))
	e.worker = New(e.store, e.options())
}

func (e *env) options() Options {
	return Options{
		Profile: func(name string) (Profile, bool) {
			return Profile{Client: e.caller, Config: e.cfg}, name == testProfile
		},
		Route: func(profile string) (delivery.Route, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if !e.routeOK {
				return delivery.Route{}, errNoRoute
			}
			return delivery.Route{ID: e.route, Profile: profile, Unordered: e.unordered}, nil
		},
		Now: e.clock.Now,
		Log: zaptest.NewLogger(e.t),
		OnFinished: func(p *outbox.Payment, by string) {
			e.mu.Lock()
			e.finished[p.ID] = by
			e.mu.Unlock()
		},
		OnInquiry: func(p *outbox.Payment, outcome string) {
			e.mu.Lock()
			e.inquiries = append(e.inquiries, inquiryAt{e.clock.Now(), outcome})
			e.mu.Unlock()
		},
		OnCancel: func(p *outbox.Payment, outcome string) {
			e.mu.Lock()
			e.cancels = append(e.cancels, outcome)
			e.mu.Unlock()
		},
	}
}

type noRouteError struct{}

func (noRouteError) Error() string { return `no antom_webhook forwards events of profile "default"` }

var errNoRoute = noRouteError{}

func (e *env) finishedBy(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.finished[id]
}

// start calls api (pay or createPaymentSession) like antom_api and records the payment as
// antom_api does. edit, if set, changes the record before it is stored.
func (e *env) start(api, requestID, value string, extra map[string]any, edit func(*outbox.Payment)) *outbox.Payment {
	e.t.Helper()
	req := map[string]any{
		"productCode":        "CASHIER_PAYMENT",
		"paymentRequestId":   requestID,
		"paymentAmount":      map[string]string{"currency": "USD", "value": value},
		"paymentRedirectUrl": "https://shop.example/return",
		"paymentNotifyUrl":   notifyURL,
		"order":              map[string]any{"referenceOrderId": "order-" + requestID},
	}
	for k, v := range extra {
		req[k] = v
	}
	body := mustJSON(e.t, req)
	resp, err := e.client.Call(context.Background(), "v1/payments/"+api, body)
	if err != nil {
		e.t.Fatalf("%s: %v", api, err)
	}
	p := Started(testProfile, api, body, resp, e.clock.Now(), e.cfg)
	if p == nil {
		e.t.Fatalf("%s answered %s/%s: not recorded\n%s", api, resp.Result.ResultCode, resp.Result.ResultStatus, resp.Body)
	}
	if edit != nil {
		edit(p)
	}
	added, err := e.store.AddPayment(context.Background(), p)
	if err != nil || !added {
		e.t.Fatalf("AddPayment: added=%v err=%v", added, err)
	}
	return p
}

// run makes the worker look at due payments once.
func (e *env) run() int {
	e.t.Helper()
	n, err := e.worker.RunOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// runUntilDone advances the clock from one scheduled inquiry to the next until the payment
// is done, and returns it. It fails after max steps.
func (e *env) runUntilDone(id string, max int) *outbox.Payment {
	e.t.Helper()
	for i := 0; i < max; i++ {
		p := e.payment(id)
		if p.State == outbox.StateDone {
			return p
		}
		e.clock.Set(p.NextInquiry)
		e.run()
	}
	p := e.payment(id)
	if p.State != outbox.StateDone {
		e.t.Fatalf("payment still pending after %d steps: %+v", max, p)
	}
	return p
}

func (e *env) payment(id string) *outbox.Payment {
	e.t.Helper()
	p, err := e.store.GetPayment(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) events(state outbox.State) []*outbox.Event {
	e.t.Helper()
	evs, err := e.store.List(context.Background(), state, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// notification returns the PAYMENT_RESULT the simulator would have sent for a payment (it
// dropped it).
func (e *env) notification(paymentRequestID string) simulator.Notification {
	e.t.Helper()
	sp, ok := e.sim.Payment(paymentRequestID)
	if !ok {
		e.t.Fatalf("simulator has no payment %s", paymentRequestID)
	}
	for _, n := range e.sim.Notifications() {
		if n.PaymentID == sp.PaymentID && n.Type == "PAYMENT_RESULT" {
			return n
		}
	}
	e.t.Fatalf("simulator has no PAYMENT_RESULT for %s", paymentRequestID)
	return simulator.Notification{}
}

// arrive stores a notification body as antom_webhook does after verifying it.
func (e *env) arrive(body []byte) (*outbox.Event, bool) {
	e.t.Helper()
	n, err := antom.ParseNotification(body)
	if err != nil {
		e.t.Fatal(err)
	}
	ev := &outbox.Event{
		ID: outbox.EventID(testProfile, n.DedupKey), Profile: testProfile, Route: e.route,
		Source: outbox.SourceNotification, Kind: n.Kind, Type: n.Type, ResultStatus: n.ResultStatus,
		RequestIDField: n.RequestIDField, RequestID: n.RequestID, DedupKey: n.DedupKey, Body: body,
		ReceivedAt: e.clock.Now(),
	}
	added, err := e.store.Add(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev, added
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

// appServer is the merchant's app: it records the events it receives.
type appServer struct {
	*httptest.Server
	mu       sync.Mutex
	received []received
}

type received struct {
	header http.Header
	body   []byte
}

func newAppServer(t *testing.T) *appServer {
	a := &appServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.received = append(a.received, received{r.Header.Clone(), b})
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *appServer) got() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]received(nil), a.received...)
}
